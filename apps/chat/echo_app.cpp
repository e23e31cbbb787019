// Echo consumers for the benchmarks.
#include "echo_app.hpp"

namespace chat {

canal::awaitable<void> EchoConsumer::receive(std::string text) { co_await send(std::move(text)); }

canal::awaitable<void> EchoConsumer::receive_bytes(std::string bytes) {
    co_await send_bytes(std::move(bytes));
}

void SyncEchoConsumer::receive(std::string text) { send(std::move(text)); }

void SyncEchoConsumer::receive_bytes(std::string bytes) { send_bytes(std::move(bytes)); }

} // namespace chat
