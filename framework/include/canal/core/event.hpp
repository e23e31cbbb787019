// Event: the typed ASGI events that flow between the server and an application.
#pragma once

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

/** An HTTP request body (all of it: canal reads bodies up to the configured limit). */
struct HttpRequest {
    /** The whole request body. */
    std::string body;
};

/** Start of an HTTP response. */
struct HttpResponseStart {
    /** The HTTP status code. */
    int status = 200;
    /** The response headers (the server sets Content-Length itself). */
    Headers headers;
};

/** HTTP response body; `more_body` false ends the response. */
struct HttpResponseBody {
    /** A part of the response body. */
    std::string body;
    /** True when more parts follow. */
    bool more_body = false;
};

/** The HTTP client went away before the response ended. */
struct HttpDisconnect {};

/** Any event between server and application. */
using Event = std::variant<WebsocketConnect, WebsocketReceive, WebsocketDisconnect, WebsocketAccept,
                           WebsocketSend, WebsocketClose, HttpRequest, HttpResponseStart,
                           HttpResponseBody, HttpDisconnect>;

} // namespace canal
