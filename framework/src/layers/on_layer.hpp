// How the Redis layers run an operation: on the layer's own thread, the caller resuming on
// its own executor. Connection trouble (Redis down, lost, stalled past command_timeout)
// reaches the caller as LayerUnavailable; the layer's own errors pass as they are.
#pragma once

#include <canal/core/errors.hpp>
#include <canal/core/net.hpp>
#include <canal/redis/client.hpp>

#include <boost/asio/co_spawn.hpp>

#include <utility>

namespace canal::detail {

[[noreturn]] inline void rethrow_as_unavailable(redis::ConnectionError const& e) {
    throw LayerUnavailable(e.what());
}

/** Runs `op` on `ex` (the layer's thread); see above. */
template <typename T>
awaitable<T> on_layer(net::any_io_executor ex, awaitable<T> op) {
    try {
        co_return co_await net::co_spawn(ex, std::move(op), use_awaitable);
    } catch (redis::ConnectionError const& e) {
        rethrow_as_unavailable(e);
    }
}

/** Runs `op` on `ex` (the layer's thread); see above. */
inline awaitable<void> on_layer(net::any_io_executor ex, awaitable<void> op) {
    try {
        co_await net::co_spawn(ex, std::move(op), use_awaitable);
    } catch (redis::ConnectionError const& e) {
        rethrow_as_unavailable(e);
    }
}

} // namespace canal::detail
