// WebsocketConsumer and JsonWebsocketConsumer: blocking handlers on the handler pool.
#pragma once

#include <canal/consumers/blocking_handlers.hpp>
#include <canal/consumers/websocket_base.hpp>
#include <canal/sync/async_to_sync.hpp>

#include <boost/json/value.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace canal {

/**
 * A websocket consumer with blocking handlers (channels.generic.websocket.WebsocketConsumer).
 *
 * The same lifecycle and rules as AsyncWebsocketConsumer — groups, DenyConnection (403),
 * AcceptConnection, StopConsumer, cleanup and 1011 when a handler throws — but connect(),
 * receive(), receive_bytes(), disconnect() and the layer handlers registered with on()
 * run on the handler thread pool, one at a time per consumer, in arrival order.
 * accept(), send(), send_bytes() and close() may be called from them; they do not block.
 * Layer calls go through async_to_sync(), as in the Channels tutorial:
 * @code
 * canal::async_to_sync([&] { return channel_layer().group_add(group_, channel_name()); });
 * @endcode
 * Register blocking member handlers with `on("type", &MyConsumer::handler)`; `run_blocking(f)`
 * runs `f` on the pool before the consumer's next event (both shared with SyncConsumer).
 */
class WebsocketConsumer : public detail::BlockingHandlers<detail::WebsocketBase> {
protected:
    /** Called on the handshake. Default: accept(). */
    virtual void connect();
    /** A text message from the client. Default: ignore it. */
    virtual void receive(std::string text);
    /** A binary message from the client. Default: ignore it. */
    virtual void receive_bytes(std::string bytes);
    /** The connection closed with `code`. */
    virtual void disconnect(int code);

    /**
     * The low-level handlers, as in Channels: websocket_connect calls connect(),
     * websocket_receive calls receive() or receive_bytes(), websocket_disconnect calls
     * disconnect(code). Override one to take the raw event instead (Channels code that
     * overrides `websocket_receive(self, message)` ports as it is). They run on the
     * handler pool like the others; `groups` are still joined before websocket_connect and
     * left after websocket_disconnect; StopConsumer thrown from any handler ends the consumer.
     */
    virtual void websocket_connect(WebsocketConnect const& message);
    /** See websocket_connect(). */
    virtual void websocket_receive(WebsocketReceive message);
    /** See websocket_connect(). */
    virtual void websocket_disconnect(WebsocketDisconnect const& message);

    /**
     * Accepts the handshake, choosing `subprotocol` if set. Called from connect(), the
     * accept (and what connect() sends after it) leaves when connect() has returned and
     * the groups it added to `groups` are joined: a client that holds its 101 is in them.
     */
    void accept(std::string subprotocol = {}, Headers headers = {});
    /** Sends a text message. */
    void send(std::string text);
    /** Sends a shared text message (no copy: use with Message::shared_text()). */
    void send(std::shared_ptr<std::string const> text);
    /** Sends a text message, then closes with 1000 if `close_after` (Channels' `close=True`). */
    void send(std::string text, bool close_after);
    /** Sends a text message, then closes with `close_code` (Channels' `close=code`). */
    void send(std::string text, int close_code);
    /** Sends a binary message. */
    void send_bytes(std::string bytes);
    /** Sends a binary message, then closes with 1000 if `close_after`. */
    void send_bytes(std::string bytes, bool close_after);
    /** Sends a binary message, then closes with `close_code`. */
    void send_bytes(std::string bytes, int close_code);
    /** Closes with `code` and `reason` (before accept: refuses with HTTP 403). */
    void close(int code = 1000, std::string reason = {});

private:
    awaitable<void> hook_connect() final;
    awaitable<void> hook_receive(std::string data, bool binary) final;
    std::function<void()> blocking_event(Event& event) final;
    awaitable<void> hook_disconnect(int code) final;
    void post(std::optional<Event> event);
};

/**
 * A blocking websocket consumer that speaks JSON (Channels' JsonWebsocketConsumer), with
 * the same framing rules as AsyncJsonWebsocketConsumer: invalid JSON → close 1007,
 * binary frame → close 1003, unless invalid_frame() is overridden.
 */
class JsonWebsocketConsumer : public WebsocketConsumer {
protected:
    /** A decoded JSON message from the client. Default: ignore it. */
    virtual void receive_json(boost::json::value content);
    /** Sends `content` encoded by encode_json(). */
    void send_json(boost::json::value const& content);
    /** Sends `content`, then closes with 1000 if `close_after` (Channels' `close=True`). */
    void send_json(boost::json::value const& content, bool close_after);
    /** Sends `content`, then closes with `close_code`. */
    void send_json(boost::json::value const& content, int close_code);

    /** Parses a text frame; throws on invalid JSON. */
    virtual boost::json::value decode_json(std::string const& text);
    /** Serializes an outgoing value. */
    virtual std::string encode_json(boost::json::value const& content);
    /** A frame that cannot be decoded: `binary`, or text whose parse failed with `error`. */
    virtual void invalid_frame(std::string data, bool binary, std::string error);

    void receive(std::string text) final;
    void receive_bytes(std::string bytes) final;
};

} // namespace canal
