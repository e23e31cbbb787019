// AsyncWebsocketConsumer: coroutine handlers for one websocket (channels.generic.websocket).
#pragma once

#include <canal/consumers/websocket_base.hpp>

#include <boost/json/value.hpp>

#include <memory>
#include <string>

namespace canal {

/**
 * A websocket consumer with coroutine handlers, run on the connection's strand.
 *
 * Lifecycle: the channel joins every group in `groups`, then connect() runs (default:
 * accept()). Each text frame calls receive(text), each binary frame receive_bytes(data).
 * When the socket closes, disconnect(code) runs, then the groups are left.
 *
 * In connect(), throw DenyConnection (or call close()) to refuse the handshake with
 * HTTP 403; throw AcceptConnection to accept. When any handler throws, the error is
 * logged, disconnect(1011) still runs, groups are left and the socket closes with 1011
 * (Channels leaves the groups to expire instead).
 *
 * Handlers must not block: blocking work goes through sync_to_async(), or use
 * WebsocketConsumer.
 */
class AsyncWebsocketConsumer : public detail::WebsocketBase {
protected:
    /** Called on the handshake. Default: accept(). */
    virtual awaitable<void> connect();
    /** A text message from the client. Default: ignore it. */
    virtual awaitable<void> receive(std::string text);
    /** A binary message from the client. Default: ignore it. */
    virtual awaitable<void> receive_bytes(std::string bytes);
    /** The connection closed with `code` (1006 when the peer vanished). */
    virtual awaitable<void> disconnect(int code);

    /**
     * The low-level handlers, as in Channels: websocket_connect calls connect(),
     * websocket_receive calls receive() or receive_bytes(), websocket_disconnect calls
     * disconnect(code). Override one to take the raw event instead (Channels code that
     * overrides `websocket_receive(self, message)` ports as it is). `groups` are still
     * joined before websocket_connect and left after websocket_disconnect; StopConsumer
     * thrown from any handler ends the consumer.
     */
    virtual awaitable<void> websocket_connect(WebsocketConnect message);
    /** See websocket_connect(). */
    virtual awaitable<void> websocket_receive(WebsocketReceive message);
    /** See websocket_connect(). */
    virtual awaitable<void> websocket_disconnect(WebsocketDisconnect message);

    /**
     * Accepts the handshake, choosing `subprotocol` (one of `scope().subprotocols`) if set,
     * with `headers` added to the 101 response (e.g. `Set-Cookie`). Headers the handshake
     * sets itself (Upgrade, Connection, Sec-WebSocket-*) are refused with canal::Error.
     */
    awaitable<void> accept(std::string subprotocol = {}, Headers headers = {});
    /**
     * Sends a text message. A message over the server's outbound limit throws
     * MessageTooLarge (nothing is sent; the connection stays open).
     */
    awaitable<void> send(std::string text);
    /** Sends a shared text message (no copy: use with Message::shared_text()). */
    awaitable<void> send(std::shared_ptr<std::string const> text);
    /** Sends a text message, then closes with 1000 if `close_after` (Channels' `close=True`). */
    awaitable<void> send(std::string text, bool close_after);
    /** Sends a text message, then closes with `close_code` (Channels' `close=code`). */
    awaitable<void> send(std::string text, int close_code);
    /** Sends a binary message. */
    awaitable<void> send_bytes(std::string bytes);
    /** Sends a binary message, then closes with 1000 if `close_after`. */
    awaitable<void> send_bytes(std::string bytes, bool close_after);
    /** Sends a binary message, then closes with `close_code`. */
    awaitable<void> send_bytes(std::string bytes, int close_code);
    /** Closes with `code` and `reason` (before accept: refuses with HTTP 403). */
    awaitable<void> close(int code = 1000, std::string reason = {});

private:
    awaitable<void> hook_connect() final;
    awaitable<void> hook_receive(std::string data, bool binary) final;
    awaitable<void> hook_disconnect(int code) final;
};

/**
 * A websocket consumer that speaks JSON (channels.generic.websocket.AsyncJsonWebsocketConsumer).
 *
 * Text frames are decoded with decode_json() and passed to receive_json(). A text frame
 * that is not valid JSON, and any binary frame, go to invalid_frame(), which by default
 * closes this connection only: 1007 "invalid JSON: ..." and 1003 "binary frames are not
 * accepted". Override invalid_frame() to answer differently (e.g. send an error object).
 */
class AsyncJsonWebsocketConsumer : public AsyncWebsocketConsumer {
protected:
    /** A decoded JSON message from the client. Default: ignore it. */
    virtual awaitable<void> receive_json(boost::json::value content);
    /** Sends `content` encoded by encode_json(). */
    awaitable<void> send_json(boost::json::value content);
    /** Sends `content`, then closes with 1000 if `close_after` (Channels' `close=True`). */
    awaitable<void> send_json(boost::json::value content, bool close_after);
    /** Sends `content`, then closes with `close_code`. */
    awaitable<void> send_json(boost::json::value content, int close_code);

    /** Parses a text frame; throws on invalid JSON. */
    virtual boost::json::value decode_json(std::string const& text);
    /** Serializes an outgoing value. */
    virtual std::string encode_json(boost::json::value const& content);
    /** A frame that cannot be decoded: `binary`, or text whose parse failed with `error`. */
    virtual awaitable<void> invalid_frame(std::string data, bool binary, std::string error);

    awaitable<void> receive(std::string text) final;
    awaitable<void> receive_bytes(std::string bytes) final;
};

} // namespace canal
