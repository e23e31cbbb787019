// async_to_sync: run an awaitable from blocking code and wait for its result.
#pragma once

#include <canal/core/errors.hpp>
#include <canal/sync/handler_pool.hpp>

#include <boost/asio/co_spawn.hpp>

#include <future>
#include <memory>
#include <type_traits>
#include <utility>

namespace canal {

namespace detail {
template <typename A>
struct awaitable_value;
template <typename T, typename E>
struct awaitable_value<net::awaitable<T, E>> {
    using type = T;
};

template <typename A>
inline constexpr bool is_awaitable_v = false;
template <typename T, typename E>
inline constexpr bool is_awaitable_v<net::awaitable<T, E>> = true;

template <typename>
inline constexpr bool always_false_v = false;

[[noreturn]] void throw_async_to_sync_on_io_thread();
[[noreturn]] void throw_async_to_sync_without_executor();

// One static_assert that names the fix, instead of a page of failed template deductions.
template <typename F>
constexpr bool async_to_sync_accepts() {
    if constexpr (is_awaitable_v<std::remove_cvref_t<F>>) {
        static_assert(always_false_v<F>,
                      "async_to_sync(f): f is an awaitable; pass a callable that returns it, "
                      "e.g. async_to_sync([&] { return layer.group_send(group, message); })");
        return false;
    } else if constexpr (!std::is_invocable_v<F&>) {
        static_assert(always_false_v<F>,
                      "async_to_sync(f): f must be callable with no arguments and return a "
                      "canal::awaitable<T>");
        return false;
    } else if constexpr (!is_awaitable_v<std::invoke_result_t<F&>>) {
        static_assert(always_false_v<F>,
                      "async_to_sync(f): f() must return a canal::awaitable<T>; a function "
                      "that returns a plain value needs no async_to_sync: call it directly");
        return false;
    } else {
        return true;
    }
}

template <typename F>
auto async_to_sync_on(net::any_io_executor const& ex, F&& f) ->
    typename awaitable_value<std::invoke_result_t<F&>>::type {
    using T = typename detail::awaitable_value<std::invoke_result_t<F&>>::type;
    if (detail::on_io_thread()) {
        detail::throw_async_to_sync_on_io_thread();
    }
    // Shared: the completion may still be inside set_value() when get() returns.
    auto promise = std::make_shared<std::promise<T>>();
    auto future = promise->get_future();
    // f() only builds the (lazy) awaitable; its body runs on `ex`.
    if constexpr (std::is_void_v<T>) {
        net::co_spawn(ex, f(), [promise](std::exception_ptr e) {
            if (e) {
                promise->set_exception(e);
            } else {
                promise->set_value();
            }
        });
    } else {
        net::co_spawn(ex, f(), [promise](std::exception_ptr e, T value) {
            if (e) {
                promise->set_exception(e);
            } else {
                promise->set_value(std::move(value));
            }
        });
    }
    BlockingRegion blocking;
    return future.get();
}
} // namespace detail

/**
 * Runs the awaitable returned by `f()` on `ex` and blocks the calling thread until it
 * completes; returns its value or rethrows its exception (same type).
 *
 * Throws canal::Error, and never deadlocks, when called on an I/O thread: blocking
 * there would stall every connection of that thread (asgiref raises likewise).
 *
 * @par Example (a sync consumer's handler)
 * @code
 * canal::async_to_sync([&] { return channel_layer().group_send(group_, event); });
 * @endcode
 */
template <typename F>
auto async_to_sync(net::any_io_executor const& ex, F&& f) {
    if constexpr (detail::async_to_sync_accepts<F>()) {
        return detail::async_to_sync_on(ex, std::forward<F>(f));
    }
}

/**
 * async_to_sync() on the I/O executor of the code that called into this blocking code
 * (the consumer's own executor in a sync consumer's handler, or the caller of
 * sync_to_async()). Throws canal::Error when there is none, e.g. on a thread of your own:
 * then pass an executor explicitly.
 */
template <typename F>
auto async_to_sync(F&& f) {
    if constexpr (detail::async_to_sync_accepts<F>()) {
        if (detail::on_io_thread()) {
            detail::throw_async_to_sync_on_io_thread();
        }
        auto const* ex = detail::current_io_executor();
        if (ex == nullptr) {
            detail::throw_async_to_sync_without_executor();
        }
        return detail::async_to_sync_on(*ex, std::forward<F>(f));
    }
}

} // namespace canal
