// Notifier: a strand-local "something changed" signal for coroutines (a never-expiring timer).
#pragma once

#include <canal/core/net.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

namespace canal::detail {

/**
 * Wakes every coroutine waiting in wait(). Waiters re-check their condition after waking.
 *
 * @par Thread safety
 * Not thread-safe: waiters and notifiers share one strand. From another thread, post
 * notify() to that strand.
 *
 * @par Cancellation
 * wait() supports terminal cancellation and then throws operation_aborted.
 */
class Notifier {
public:
    explicit Notifier(net::any_io_executor ex)
        : timer_(std::move(ex), net::steady_timer::time_point::max()) {}

    awaitable<void> wait() {
        // cancel() leaves the expiry at max, so the timer never fires by itself.
        co_await timer_.async_wait(use_nothrow);
        auto state = co_await net::this_coro::cancellation_state;
        if (state.cancelled() != net::cancellation_type::none) {
            throw boost::system::system_error(net::error::operation_aborted);
        }
    }

    void notify() { timer_.cancel(); }

private:
    net::steady_timer timer_;
};

} // namespace canal::detail
