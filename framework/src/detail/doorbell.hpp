// Doorbell: one coroutine's wait for "something arrived", without a timer. A consumer's
// inbox waited on a Notifier (a never-expiring timer) for the connection's whole idle life:
// the timer and its pending wait cost about 0.28 KiB per idle connection. A Doorbell keeps
// the waiting coroutine's own completion handler (a pointer to its stack) in place, and
// allocates nothing.
#pragma once

#include <canal/core/net.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>
#include <utility>

namespace canal::detail {

class DoorbellService;

/**
 * Wakes the coroutine waiting in wait(), if one is. The waiter re-checks its condition after
 * waking (a ring with nobody waiting is not kept).
 *
 * @par Thread safety
 * Not thread-safe: the waiter and whoever rings share one strand.
 *
 * @par Cancellation
 * wait() supports terminal cancellation: it completes, and the waiter's next co_await throws
 * operation_aborted (Asio's throw_if_cancelled).
 *
 * @par Shutdown
 * A waiter still parked when its io_context is destroyed is destroyed with it (as a timer's
 * would be), through the context's DoorbellService.
 */
class Doorbell {
public:
    /** For waiters on `ex`'s execution context. */
    explicit Doorbell(net::any_io_executor const& ex);
    ~Doorbell();
    Doorbell(Doorbell const&) = delete;
    Doorbell& operator=(Doorbell const&) = delete;

    /** Completes at the next ring() (or cancellation). One coroutine waits at a time. */
    awaitable<void> wait() {
        return net::async_initiate<net::use_awaitable_t<net::any_io_executor> const, void()>(
            [this](Handler handler) { park(std::move(handler)); }, net::use_awaitable);
    }

    /** Wakes the waiter, if any (on its executor, never inside ring()). */
    void ring() { complete(true); }

    /** True while a coroutine waits. */
    [[nodiscard]] bool waiting() const noexcept { return static_cast<bool>(handler_); }

private:
    friend class DoorbellService;
    // The coroutine's own handler: its stack, resumed on its executor.
    using Handler =
        net::async_result<net::use_awaitable_t<net::any_io_executor>, void()>::handler_type;

    void park(Handler handler);
    void complete(bool clear_slot);

    DoorbellService& service_;
    std::optional<Handler> handler_;
    // The service's list of doorbells (for its shutdown).
    Doorbell* prev_ = nullptr;
    Doorbell* next_ = nullptr;
};

} // namespace canal::detail
