// EchoConsumer: sends every text message back to its client.
#pragma once

#include <canal/consumers/async_websocket_consumer.hpp>

#include <string>

class EchoConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> receive(std::string text) override { co_await send(std::move(text)); }
};
