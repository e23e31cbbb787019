// Event: the typed ASGI events that flow between the server and an application.
#pragma once

#include <canal/core/message.hpp>
#include <canal/core/scope.hpp>

#include <memory>
#include <string>
#include <variant>

namespace canal {

/** Client asked to open a websocket (first event of a websocket scope). */
struct WebsocketConnect {};

/** A complete message from the client; `binary` tells bytes from text. */
struct WebsocketReceive {
    /** The message: text (UTF-8) or bytes. */
    std::string data;
    /** True for a binary message. */
    bool binary = false;
};

/** The connection ended; `code` is the close code (1006 for an abrupt end). */
struct WebsocketDisconnect {
    /** The close code. */
    int code = 1005;
};

/** Application accepts the handshake, optionally choosing one offered subprotocol. */
struct WebsocketAccept {
    /** The chosen subprotocol, or empty for none. */
    std::string subprotocol;
    /** Extra headers for the handshake's 101 response (e.g. Set-Cookie). */
    Headers headers;
};

/**
 * Application sends a message. The payload is shared and immutable so that one
 * serialized group message can be queued on many connections without copies.
 */
struct WebsocketSend {
    /** The message; one serialization may be shared by many connections. */
    std::shared_ptr<std::string const> data;
    /** True to send a binary message, false for text. */
    bool binary = false;
};

/** Application closes the connection; before accept this refuses the handshake (HTTP 403). */
struct WebsocketClose {
    /** The close code. */
    int code = 1000;
    /** The close reason (cut to 123 bytes, the most a close frame carries). */
    std::string reason;
};

/**
 * A part of an HTTP request's body (ASGI's `http.request`). The server reads the body as the
 * application receives: parts of up to 64 KiB, `more_body` true until the last (a request
 * without a body gives one empty part). A body over Settings::max_body_size is answered 413
 * (at once when its Content-Length says so; otherwise the application receives
 * HttpDisconnect and the client gets the 413).
 */
struct HttpRequest {
    /** This part of the body. */
    std::string body;
    /** True when more parts follow. */
    bool more_body = false;
};

/** Start of an HTTP response; written with the first HttpResponseBody. */
struct HttpResponseStart {
    /** The HTTP status code. */
    int status = 200;
    /**
     * The response headers. A response sent in one body gets its Content-Length from the
     * server; a streamed one is chunked unless these headers give a Content-Length.
     */
    Headers headers;
};

/**
 * HTTP response body; `more_body` false ends the response. A part with `more_body` true is
 * written at once (server-sent events, long-poll); the send completes when the socket has
 * taken it, so a slow client slows its sender down. After the client went away, parts are
 * ignored (the application learns it from HttpDisconnect).
 */
struct HttpResponseBody {
    /** A part of the response body. */
    std::string body;
    /** True when more parts follow. */
    bool more_body = false;
};

/**
 * The HTTP exchange is over: `receive()` returns it, after the body's last part, once the
 * response has ended or the client has gone away (mid-response included).
 */
struct HttpDisconnect {};

/**
 * A message that arrived on the channel of a `"channel"` scope: what a worker's application
 * receives (run_worker(); Channels' worker hands the message itself to the application).
 * Consumers dispatch it by its `"type"`, as they do their own channel's messages.
 */
struct ChannelMessage {
    /** The message, as sent to the channel. */
    Message message;
};

/** Any event between server and application. */
using Event = std::variant<WebsocketConnect, WebsocketReceive, WebsocketDisconnect, WebsocketAccept,
                           WebsocketSend, WebsocketClose, HttpRequest, HttpResponseStart,
                           HttpResponseBody, HttpDisconnect, ChannelMessage>;

} // namespace canal
