// The exceptions of canal's public API (Channels' names where Channels has one).
#pragma once

#include <stdexcept>
#include <string>

namespace canal {

/** Base of canal's own exceptions. */
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/** Thrown in a consumer handler to end the consumer quietly (no 1011). */
class StopConsumer : public Error {
public:
    StopConsumer() : Error("consumer stopped") {}
};

/** Thrown in connect() to refuse the handshake: the client gets HTTP 403. */
class DenyConnection : public Error {
public:
    DenyConnection() : Error("connection denied") {}
    using Error::Error;
};

/** Thrown in connect() to accept the handshake without calling accept(). */
class AcceptConnection : public Error {
public:
    AcceptConnection() : Error("connection accepted") {}
};

/** No route matched the path: the server answers HTTP 404. */
class RouteNotFound : public Error {
public:
    using Error::Error;
};

/** The channel is at capacity (Channels' ChannelFull). */
class ChannelFull : public Error {
public:
    using Error::Error;
};

/**
 * Messages for this channel were lost: a group_send() found it full for longer than
 * LayerSettings::backpressure_timeout. Thrown by the channel's receive(); a websocket
 * consumer that gets it closes its connection with 1013 ("try again later").
 */
class ChannelOverflow : public Error {
public:
    using Error::Error;
};

/**
 * The channel layer cannot be reached (e.g. Redis is down, or stalled longer than
 * RedisLayerSettings::command_timeout). A websocket consumer whose handler gets it closes
 * its connection with 1013 ("try again later") and logs the reason.
 */
class LayerUnavailable : public Error {
public:
    using Error::Error;
};

/**
 * A message too large to be sent (Channels' MessageTooLarge): a websocket message larger
 * than the server's outbound limit (`--outbound-queue-bytes`), which no client could ever
 * take. Thrown by send(); nothing is queued, and the connection stays open.
 */
class MessageTooLarge : public Error {
public:
    using Error::Error;
};

/**
 * The HTTP client went away before the response ended (Channels' RequestAborted, ASGI's
 * "send on a closed connection"). Thrown by an HTTP application's send once the server
 * knows the client is gone; AsyncHttpConsumer then runs disconnect() and stops, quietly.
 */
class RequestAborted : public Error {
public:
    using Error::Error;
};

/** A channel or group name that the layer does not accept. */
class InvalidName : public Error {
public:
    using Error::Error;
};

/** A layer message type that the consumer has no handler for. */
class NoHandler : public Error {
public:
    using Error::Error;
};

} // namespace canal
