// WebsocketConsumer and JsonWebsocketConsumer: handlers on the handler pool.
#include <canal/consumers/websocket_consumer.hpp>

#include "consumers/json_frames.hpp"
#include "detail/log.hpp"

#include <boost/asio/co_spawn.hpp>

namespace canal {

// --- WebsocketConsumer --------------------------------------------------------------------

void WebsocketConsumer::connect() { accept(); }
void WebsocketConsumer::receive(std::string /*text*/) {}
void WebsocketConsumer::receive_bytes(std::string /*bytes*/) {}
void WebsocketConsumer::disconnect(int /*code*/) {}

void WebsocketConsumer::websocket_connect(WebsocketConnect const& /*message*/) { connect(); }

void WebsocketConsumer::websocket_receive(WebsocketReceive message) {
    if (message.binary) {
        receive_bytes(std::move(message.data));
    } else {
        receive(std::move(message.data));
    }
}

void WebsocketConsumer::websocket_disconnect(WebsocketDisconnect const& message) {
    disconnect(message.code);
}

// Plain functions, not coroutines: g++ 12 miscompiles coroutine parameters moved into
// lambda captures (a double free at -O2).
awaitable<void> WebsocketConsumer::hook_connect() {
    return run_blocking([this] { websocket_connect(WebsocketConnect{}); });
}

awaitable<void> WebsocketConsumer::hook_receive(std::string data, bool binary) {
    return run_blocking([this, binary, data = std::move(data)]() mutable {
        websocket_receive(WebsocketReceive{std::move(data), binary});
    });
}

// A received frame needs nothing from the strand: it joins the batch of blocking work.
std::function<void()> WebsocketConsumer::blocking_event(Event& event) {
    auto* rx = std::get_if<WebsocketReceive>(&event);
    if (rx == nullptr) {
        return {};
    }
    return [this, binary = rx->binary, data = std::move(rx->data)]() mutable {
        websocket_receive(WebsocketReceive{std::move(data), binary});
    };
}

awaitable<void> WebsocketConsumer::hook_disconnect(int code) {
    return run_blocking([this, code] { websocket_disconnect(WebsocketDisconnect{code}); });
}

void WebsocketConsumer::post(std::optional<Event> event) {
    if (event) {
        post_event_from_thread(std::move(*event));
    }
}

void WebsocketConsumer::accept(std::string subprotocol, Headers headers) {
    post(make_accept(std::move(subprotocol), std::move(headers)));
}

void WebsocketConsumer::send(std::string text) {
    send(std::make_shared<std::string const>(std::move(text)));
}

void WebsocketConsumer::send(std::shared_ptr<std::string const> text) {
    post(make_send(std::move(text), false));
}

void WebsocketConsumer::send_bytes(std::string bytes) {
    post(make_send(std::make_shared<std::string const>(std::move(bytes)), true));
}

void WebsocketConsumer::send(std::string text, bool close_after) {
    send(std::move(text));
    if (close_after) {
        close();
    }
}

void WebsocketConsumer::send(std::string text, int close_code) {
    send(std::move(text));
    close(close_code);
}

void WebsocketConsumer::send_bytes(std::string bytes, bool close_after) {
    send_bytes(std::move(bytes));
    if (close_after) {
        close();
    }
}

void WebsocketConsumer::send_bytes(std::string bytes, int close_code) {
    send_bytes(std::move(bytes));
    close(close_code);
}

void WebsocketConsumer::close(int code, std::string reason) {
    post(make_close(code, std::move(reason)));
}

// --- JsonWebsocketConsumer ----------------------------------------------------------------

void JsonWebsocketConsumer::receive_json(boost::json::value /*content*/) {}

void JsonWebsocketConsumer::send_json(boost::json::value const& content) {
    send(encode_json(content));
}

void JsonWebsocketConsumer::send_json(boost::json::value const& content, bool close_after) {
    send(encode_json(content), close_after);
}

void JsonWebsocketConsumer::send_json(boost::json::value const& content, int close_code) {
    send(encode_json(content), close_code);
}

boost::json::value JsonWebsocketConsumer::decode_json(std::string const& text) {
    return detail::default_decode_json(text);
}

std::string JsonWebsocketConsumer::encode_json(boost::json::value const& content) {
    return detail::default_encode_json(content);
}

void JsonWebsocketConsumer::invalid_frame(std::string /*data*/, bool binary, std::string error) {
    auto [code, reason] = detail::invalid_frame_close(binary, error);
    close(code, std::move(reason));
}

void JsonWebsocketConsumer::receive(std::string text) {
    std::string error;
    auto value = detail::decode_frame([this](std::string const& t) { return decode_json(t); },
                                      text, error);
    if (!value) {
        invalid_frame(std::move(text), false, std::move(error));
        return;
    }
    receive_json(std::move(*value));
}

void JsonWebsocketConsumer::receive_bytes(std::string bytes) {
    invalid_frame(std::move(bytes), true, "binary frame");
}

} // namespace canal
