// Notifier: a strand-local "something changed" signal for coroutines (a never-expiring timer).
#pragma once

#include <canal/core/net.hpp>

#include <boost/asio/steady_timer.hpp>

#include <memory>

namespace canal::detail {

/**
 * Wakes every coroutine waiting in wait(). Waiters re-check their condition after waking.
 *
 * @par Thread safety
 * Not thread-safe: waiters and notifiers share one strand. From another thread, post
 * notify() to that strand.
 *
 * @par Cancellation
 * wait() supports terminal cancellation: it completes, and the waiter's next co_await
 * throws operation_aborted.
 */
class Notifier {
public:
    explicit Notifier(net::any_io_executor ex)
        : timer_(std::move(ex), net::steady_timer::time_point::max()) {}

    /**
     * Completes at the next notify(). Not a coroutine: the timer's own awaitable, so a waiter
     * costs no frame of its own (a coroutine here cost ~0.9 KiB per idle connection). A
     * cancelled waiter returns normally; its next co_await throws operation_aborted (Asio's
     * throw_if_cancelled), so loops that wait again end.
     */
    auto wait() {
        // cancel() leaves the expiry at max, so the timer never fires by itself.
        return timer_.async_wait(use_nothrow);
    }

    void notify() { timer_.cancel(); }

private:
    net::steady_timer timer_;
};

/**
 * A Notifier made when first waited on: for what is rarely waited on (an open connection's
 * close, a full inbox), it costs a pointer instead of a timer.
 */
class LazyNotifier {
public:
    /** As Notifier::wait(); the notifier is made on `ex` (the waiter's) the first time. */
    auto wait(net::any_io_executor const& ex) {
        if (!notifier_) {
            notifier_ = std::make_unique<Notifier>(ex);
        }
        return notifier_->wait();
    }

    /** Wakes the waiters, if any. */
    void notify() {
        if (notifier_) {
            notifier_->notify();
        }
    }

    /** Frees the notifier. Nobody may be waiting. */
    void release() noexcept { notifier_.reset(); }

private:
    std::unique_ptr<Notifier> notifier_;
};

} // namespace canal::detail
