// RawEchoConsumer: the ASGI events of a websocket, handled one by one.
#include "guide/raw_echo_consumer.hpp"

#include <memory>
#include <string>
#include <utility>
#include <variant>

canal::awaitable<void> RawEchoConsumer::on_event(canal::Event event) {
    if (std::holds_alternative<canal::WebsocketConnect>(event)) {
        canal::Event accept = canal::WebsocketAccept{};
        co_await send_event(std::move(accept));
    } else if (auto* received = std::get_if<canal::WebsocketReceive>(&event)) {
        auto data = std::make_shared<std::string const>(std::move(received->data));
        canal::Event reply = canal::WebsocketSend{std::move(data), received->binary};
        co_await send_event(std::move(reply));
    } else if (std::holds_alternative<canal::WebsocketDisconnect>(event)) {
        throw canal::StopConsumer();
    }
}
