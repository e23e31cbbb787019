// sync_to_async: run a blocking function on the handler pool from a coroutine.
#pragma once

#include <canal/sync/handler_pool.hpp>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/this_coro.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <variant>
#include <utility>

namespace canal {

namespace detail {

template <typename R>
using pool_result_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

// Runs `fn` on the pool and completes `handler` on the caller's executor with
// (exception, result). While `fn` runs, async_to_sync() inside it targets `ex`.
template <typename R, typename Fn, typename Handler>
void start_on_pool(net::any_io_executor ex, Fn fn, Handler handler) {
    struct State {
        Fn fn;
        Handler handler;
        net::any_io_executor ex;
    };
    auto state = std::make_shared<State>(State{std::move(fn), std::move(handler), ex});
    // Keeps the caller's io_context from running out of work until this thread has
    // completely finished posting to it: whoever runs it cannot see run() return (and
    // destroy it) while this thread still signals it.
    auto work = net::prefer(ex, net::execution::outstanding_work.tracked);
    auto& pool = handler_pool_of(ex); // the pool of the caller's io_context
    begin_pool_post(pool);
    pool_post(pool, [state = std::move(state), work = std::move(work), &pool]() mutable {
        std::exception_ptr error;
        std::optional<pool_result_t<R>> result;
        {
            IoExecutorScope scope(state->ex);
            try {
                if constexpr (std::is_void_v<R>) {
                    state->fn();
                    result.emplace();
                } else {
                    result.emplace(state->fn());
                }
            } catch (...) {
                error = std::current_exception();
            }
        }
        {
            auto target = net::get_associated_executor(state->handler, state->ex);
            // The state (the callable, the handler) is released on the caller's executor
            // before the caller resumes.
            net::post(target, [state = std::move(state), error = std::move(error),
                               result = std::move(result)]() mutable {
                auto handler = std::move(state->handler);
                state.reset();
                std::move(handler)(error, std::move(result));
            });
        }
        // Released only after post() has returned: an io_context that runs out of work
        // cannot return from run() (and be destroyed) while this thread is still inside
        // post(). A server that stops its io_context regardless waits for this task to get
        // here (handler_pool_posts_in_flight) before destroying it.
        work = net::any_io_executor();
        end_pool_post(pool);
    });
}

} // namespace detail

namespace detail {

template <typename T>
awaitable<T> unwrap_pool_result(awaitable<std::optional<T>> op) {
    auto result = co_await std::move(op);
    co_return std::move(*result);
}

// No coroutine frame here: g++ 12 miscompiles coroutine parameters moved into lambda
// captures (a double free at -O2), so the callable is packed in plain functions only.
template <typename R, typename Fn>
awaitable<R> run_on_pool(Fn fn) {
    if constexpr (std::is_void_v<R>) {
        auto complete = [](auto handler, Fn f) {
            auto ex = net::get_associated_executor(handler);
            auto adapt = [h = std::move(handler)](std::exception_ptr e,
                                                  std::optional<std::monostate>) mutable {
                std::move(h)(e);
            };
            // The adapter must keep the handler's executor: bind it explicitly.
            start_on_pool<R>(net::any_io_executor(ex), std::move(f),
                             net::bind_executor(ex, std::move(adapt)));
        };
        return net::async_initiate<decltype(use_awaitable) const, void(std::exception_ptr)>(
            std::move(complete), use_awaitable, std::move(fn));
    } else {
        auto initiation = [](auto handler, Fn f) {
            auto ex = net::get_associated_executor(handler);
            start_on_pool<R>(net::any_io_executor(ex), std::move(f), std::move(handler));
        };
        return unwrap_pool_result<R>(
            net::async_initiate<decltype(use_awaitable) const,
                                void(std::exception_ptr, std::optional<R>)>(
                std::move(initiation), use_awaitable, std::move(fn)));
    }
}

} // namespace detail

/**
 * Runs `f(args...)` on the handler thread pool and resumes the calling coroutine on its
 * own executor with the result, or rethrows what `f` threw (same type).
 *
 * Inside `f`, async_to_sync() runs awaitables on the caller's executor, so blocking code
 * can reach async APIs again (nesting works; the pool adds a stand-in thread while one
 * of its threads waits in async_to_sync).
 *
 * @par Example
 * @code
 * auto query = [&db] { return db.query("..."); };     // g++ 12: name callables with
 * auto rows = co_await canal::sync_to_async(query);  // captures outside the co_await
 * @endcode
 */
template <typename F, typename... Args>
auto sync_to_async(F f, Args... args) -> awaitable<std::invoke_result_t<F&, Args&...>> {
    using R = std::invoke_result_t<F&, Args&...>;
    auto call = [f = std::move(f), ... args = std::move(args)]() mutable -> R {
        return std::invoke(f, args...);
    };
    return detail::run_on_pool<R>(std::move(call));
}

} // namespace canal
