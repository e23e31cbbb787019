// AsyncWebsocketConsumer and AsyncJsonWebsocketConsumer: the websocket lifecycle on top of
// AsyncConsumer (groups, handshake, cleanup on errors) and JSON framing.
#include <canal/consumers/async_websocket_consumer.hpp>

#include "detail/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>

namespace canal {

awaitable<void> AsyncWebsocketConsumer::connect() { co_await accept(); }
awaitable<void> AsyncWebsocketConsumer::receive(std::string /*text*/) { co_return; }
awaitable<void> AsyncWebsocketConsumer::receive_bytes(std::string /*bytes*/) { co_return; }
awaitable<void> AsyncWebsocketConsumer::disconnect(int /*code*/) { co_return; }

awaitable<void> AsyncWebsocketConsumer::accept(std::string subprotocol) {
    if (!subprotocol.empty()) {
        auto const& offered = scope().subprotocols;
        if (std::find(offered.begin(), offered.end(), subprotocol) == offered.end()) {
            throw Error("accept('" + subprotocol + "'): the client did not offer this subprotocol");
        }
    }
    if (accepted_ || closed_) {
        co_return;
    }
    accepted_ = true;
    // g++ 12: no braced initializers inside a co_await operand; build the event first.
    Event ev = WebsocketAccept{std::move(subprotocol)};
    co_await send_event(std::move(ev));
}

awaitable<void> AsyncWebsocketConsumer::send(std::string text) {
    auto shared = std::make_shared<std::string const>(std::move(text));
    co_await send(std::move(shared));
}

awaitable<void> AsyncWebsocketConsumer::send(std::shared_ptr<std::string const> text) {
    if (closed_) {
        co_return;
    }
    Event ev = WebsocketSend{std::move(text), false};
    co_await send_event(std::move(ev));
}

awaitable<void> AsyncWebsocketConsumer::send_bytes(std::string bytes) {
    if (closed_) {
        co_return;
    }
    Event ev = WebsocketSend{std::make_shared<std::string const>(std::move(bytes)), true};
    co_await send_event(std::move(ev));
}

awaitable<void> AsyncWebsocketConsumer::close(int code, std::string reason) {
    if (closed_ || client_gone_) {
        co_return;
    }
    closed_ = true;
    // A close frame carries at most 123 bytes of reason.
    if (reason.size() > 123) {
        reason.resize(123);
    }
    Event ev = WebsocketClose{code, std::move(reason)};
    co_await send_event(std::move(ev));
}

awaitable<void> AsyncWebsocketConsumer::leave_groups() {
    if (!has_channel_layer()) {
        co_return;
    }
    auto to_leave = std::move(groups);
    groups.clear();
    for (auto& g : to_leave) {
        co_await channel_layer().group_discard(std::move(g), channel_name());
    }
}

awaitable<void> AsyncWebsocketConsumer::on_event(Event event) {
    if (std::holds_alternative<WebsocketConnect>(event)) {
        if (!groups.empty()) {
            for (auto const& g : groups) {
                co_await channel_layer().group_add(g, channel_name());
            }
        }
        bool accept_now = false;
        bool deny = false;
        try {
            co_await connect();
        } catch (AcceptConnection const&) {
            accept_now = true;
        } catch (DenyConnection const& e) {
            deny = true;
            if (std::string_view(e.what()) != "connection denied") {
                detail::log_info("consumer " + describe() + ": connection denied: " + e.what());
            }
        }
        if (accept_now) {
            co_await accept();
        } else if (deny) {
            co_await close();
        }
    } else if (auto* rx = std::get_if<WebsocketReceive>(&event)) {
        if (rx->binary) {
            co_await receive_bytes(std::move(rx->data));
        } else {
            co_await receive(std::move(rx->data));
        }
    } else if (auto* dc = std::get_if<WebsocketDisconnect>(&event)) {
        client_gone_ = true;
        co_await run_disconnect(dc->code);
        co_await leave_groups();
        throw StopConsumer();
    }
}

awaitable<void> AsyncWebsocketConsumer::run_disconnect(int code) {
    if (disconnect_called_) {
        co_return;
    }
    disconnect_called_ = true;
    co_await disconnect(code);
}

awaitable<void> AsyncWebsocketConsumer::on_finish() {
    // StopConsumer from a handler ends the connection too: leave the groups now rather
    // than leaving them to expire (the server then closes the socket with 1000).
    co_await leave_groups();
}

awaitable<void> AsyncWebsocketConsumer::on_error(std::exception_ptr error) {
    std::string what = "unknown exception";
    try {
        std::rethrow_exception(error);
    } catch (std::exception const& e) {
        what = e.what();
    } catch (...) {
    }
    detail::log_error("consumer " + describe() + ": handler failed: " + what +
                      "; closing with 1011");
    if (!disconnect_called_) {
        try {
            co_await run_disconnect(1011);
        } catch (std::exception const& e) {
            detail::log_error("consumer " + describe() + ": disconnect() failed too: " + e.what());
        }
    }
    try {
        co_await leave_groups();
    } catch (std::exception const& e) {
        detail::log_error("consumer " + describe() + ": leaving groups failed: " + e.what());
    }
    if (accepted_) {
        co_await close(1011, "internal error");
    } else if (!closed_ && !client_gone_) {
        // Before the handshake was answered: let the server refuse it (HTTP 500).
        std::rethrow_exception(error);
    }
}

// --- JSON ---------------------------------------------------------------------------------

awaitable<void> AsyncJsonWebsocketConsumer::receive_json(boost::json::value /*content*/) {
    co_return;
}

awaitable<void> AsyncJsonWebsocketConsumer::send_json(boost::json::value content) {
    co_await send(encode_json(content));
}

boost::json::value AsyncJsonWebsocketConsumer::decode_json(std::string const& text) {
    return boost::json::parse(text);
}

std::string AsyncJsonWebsocketConsumer::encode_json(boost::json::value const& content) {
    return boost::json::serialize(content);
}

awaitable<void> AsyncJsonWebsocketConsumer::invalid_frame(std::string /*data*/, bool binary,
                                                          std::string error) {
    if (binary) {
        co_await close(1003, "binary frames are not accepted");
    } else {
        co_await close(1007, "invalid JSON: " + error);
    }
}

awaitable<void> AsyncJsonWebsocketConsumer::receive(std::string text) {
    boost::json::value value;
    std::string error;
    try {
        value = decode_json(text);
    } catch (boost::system::system_error const& e) {
        error = e.code().message(); // what() would add a source location
    } catch (std::exception const& e) {
        error = e.what();
    }
    if (!error.empty()) {
        co_await invalid_frame(std::move(text), false, std::move(error));
        co_return;
    }
    co_await receive_json(std::move(value));
}

awaitable<void> AsyncJsonWebsocketConsumer::receive_bytes(std::string bytes) {
    co_await invalid_frame(std::move(bytes), true, "binary frame");
}

} // namespace canal
