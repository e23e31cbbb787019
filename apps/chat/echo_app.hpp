// Echo consumers for the benchmarks: every message a client sends comes straight back.
#pragma once

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/consumers/websocket_consumer.hpp>

#include <string>

namespace chat {

/**
 * Echo, async style: accepts every connection and sends each text (or binary) message back
 * to its sender unchanged. No channel layer, no JSON: the cost of a round trip through the
 * server and one consumer handler. Route `/ws/echo/` of the chat application.
 */
class EchoConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> receive(std::string text) override;
    canal::awaitable<void> receive_bytes(std::string bytes) override;
};

/** The same echo, sync style: the handlers run on the handler pool. */
class SyncEchoConsumer : public canal::WebsocketConsumer {
protected:
    void receive(std::string text) override;
    void receive_bytes(std::string bytes) override;
};

} // namespace chat
