// AsyncWebsocketConsumer and AsyncJsonWebsocketConsumer: coroutine handlers and JSON framing.
#include <canal/consumers/async_websocket_consumer.hpp>

#include "consumers/json_frames.hpp"

namespace canal {

awaitable<void> AsyncWebsocketConsumer::connect() { co_await accept(); }
awaitable<void> AsyncWebsocketConsumer::receive(std::string /*text*/) { co_return; }
awaitable<void> AsyncWebsocketConsumer::receive_bytes(std::string /*bytes*/) { co_return; }
awaitable<void> AsyncWebsocketConsumer::disconnect(int /*code*/) { co_return; }

// Plain functions, not coroutines: each hands on the handler's awaitable (no frame of its
// own on the path every received message takes).
awaitable<void> AsyncWebsocketConsumer::websocket_connect(WebsocketConnect /*message*/) {
    return connect();
}

awaitable<void> AsyncWebsocketConsumer::websocket_receive(WebsocketReceive message) {
    if (message.binary) {
        return receive_bytes(std::move(message.data));
    }
    return receive(std::move(message.data));
}

awaitable<void> AsyncWebsocketConsumer::websocket_disconnect(WebsocketDisconnect message) {
    return disconnect(message.code);
}

awaitable<void> AsyncWebsocketConsumer::hook_connect() {
    return websocket_connect(WebsocketConnect{});
}

awaitable<void> AsyncWebsocketConsumer::hook_receive(std::string data, bool binary) {
    WebsocketReceive message{std::move(data), binary};
    return websocket_receive(std::move(message));
}

awaitable<void> AsyncWebsocketConsumer::hook_disconnect(int code) {
    return websocket_disconnect(WebsocketDisconnect{code});
}

// g++ 12: no braced initializers inside a co_await operand; events are built first.
awaitable<void> AsyncWebsocketConsumer::accept(std::string subprotocol, Headers headers) {
    if (auto ev = make_accept(std::move(subprotocol), std::move(headers))) {
        co_await send_event(std::move(*ev));
    }
}

namespace {
awaitable<void> nothing() { co_return; }
} // namespace

// The sends are plain functions that hand on the server's awaitable: no coroutine frame of
// their own on the path every delivery takes.
awaitable<void> AsyncWebsocketConsumer::send(std::string text) {
    return send(std::make_shared<std::string const>(std::move(text)));
}

awaitable<void> AsyncWebsocketConsumer::send(std::shared_ptr<std::string const> text) {
    auto ev = make_send(std::move(text), false);
    if (!ev) {
        return nothing();
    }
    return send_event(std::move(*ev));
}

awaitable<void> AsyncWebsocketConsumer::send_bytes(std::string bytes) {
    auto shared = std::make_shared<std::string const>(std::move(bytes));
    if (auto ev = make_send(std::move(shared), true)) {
        co_await send_event(std::move(*ev));
    }
}

// send(..., close): both events are made here, in order, before either goes out.
awaitable<void> AsyncWebsocketConsumer::send(std::string text, bool close_after) {
    auto ev = make_send(std::make_shared<std::string const>(std::move(text)), false);
    return send_both(std::move(ev), close_after ? make_close(1000, std::string()) : std::nullopt);
}

awaitable<void> AsyncWebsocketConsumer::send(std::string text, int close_code) {
    auto ev = make_send(std::make_shared<std::string const>(std::move(text)), false);
    return send_both(std::move(ev), make_close(close_code, std::string()));
}

awaitable<void> AsyncWebsocketConsumer::send_bytes(std::string bytes, bool close_after) {
    auto ev = make_send(std::make_shared<std::string const>(std::move(bytes)), true);
    return send_both(std::move(ev), close_after ? make_close(1000, std::string()) : std::nullopt);
}

awaitable<void> AsyncWebsocketConsumer::send_bytes(std::string bytes, int close_code) {
    auto ev = make_send(std::make_shared<std::string const>(std::move(bytes)), true);
    return send_both(std::move(ev), make_close(close_code, std::string()));
}

awaitable<void> AsyncWebsocketConsumer::close(int code, std::string reason) {
    if (auto ev = make_close(code, std::move(reason))) {
        co_await send_event(std::move(*ev));
    }
}

// --- JSON ---------------------------------------------------------------------------------

awaitable<void> AsyncJsonWebsocketConsumer::receive_json(boost::json::value /*content*/) {
    co_return;
}

awaitable<void> AsyncJsonWebsocketConsumer::send_json(boost::json::value content) {
    co_await send(encode_json(content));
}

awaitable<void> AsyncJsonWebsocketConsumer::send_json(boost::json::value content, bool close_after) {
    return send(encode_json(content), close_after);
}

awaitable<void> AsyncJsonWebsocketConsumer::send_json(boost::json::value content,
                                                      int close_code) {
    return send(encode_json(content), close_code);
}

boost::json::value AsyncJsonWebsocketConsumer::decode_json(std::string const& text) {
    return detail::default_decode_json(text);
}

std::string AsyncJsonWebsocketConsumer::encode_json(boost::json::value const& content) {
    return detail::default_encode_json(content);
}

awaitable<void> AsyncJsonWebsocketConsumer::invalid_frame(std::string /*data*/, bool binary,
                                                          std::string error) {
    auto [code, reason] = detail::invalid_frame_close(binary, error);
    co_await close(code, std::move(reason));
}

awaitable<void> AsyncJsonWebsocketConsumer::receive(std::string text) {
    std::string error;
    auto value = detail::decode_frame([this](std::string const& t) { return decode_json(t); },
                                      text, error);
    if (!value) {
        co_await invalid_frame(std::move(text), false, std::move(error));
        co_return;
    }
    co_await receive_json(std::move(*value));
}

awaitable<void> AsyncJsonWebsocketConsumer::receive_bytes(std::string bytes) {
    co_await invalid_frame(std::move(bytes), true, "binary frame");
}

} // namespace canal
