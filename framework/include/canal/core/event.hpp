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
    std::string data;
    bool binary = false;
};

/** The connection ended; `code` is the close code (1006 for an abrupt end). */
struct WebsocketDisconnect {
    int code = 1005;
};

/** Application accepts the handshake, optionally choosing one offered subprotocol. */
struct WebsocketAccept {
    std::string subprotocol;
};

/**
 * Application sends a message. The payload is shared and immutable so that one
 * serialized group message can be queued on many connections without copies.
 */
struct WebsocketSend {
    std::shared_ptr<std::string const> data;
    bool binary = false;
};

/** Application closes the connection; before accept this refuses the handshake (HTTP 403). */
struct WebsocketClose {
    int code = 1000;
    std::string reason;
};

/** An HTTP request body (all of it: canal reads bodies up to the configured limit). */
struct HttpRequest {
    std::string body;
};

/** Start of an HTTP response. */
struct HttpResponseStart {
    int status = 200;
    Headers headers;
};

/** HTTP response body; `more_body` false ends the response. */
struct HttpResponseBody {
    std::string body;
    bool more_body = false;
};

/** The HTTP client went away before the response ended. */
struct HttpDisconnect {};

/** Any event between server and application. */
using Event = std::variant<WebsocketConnect, WebsocketReceive, WebsocketDisconnect, WebsocketAccept,
                           WebsocketSend, WebsocketClose, HttpRequest, HttpResponseStart,
                           HttpResponseBody, HttpDisconnect>;

} // namespace canal
