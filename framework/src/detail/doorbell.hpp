// Doorbell: one coroutine's wait for "something arrived", without a timer. A consumer's
// inbox waited on a Notifier (a never-expiring timer) for the connection's whole idle life:
// the timer and its pending wait cost about 0.28 KiB per idle connection. A Doorbell keeps
// the waiter's completion handler itself (about 0.05 KiB).
#pragma once

#include <canal/core/net.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/system/error_code.hpp>

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
 * wait() supports terminal cancellation: it completes with operation_aborted, and the
 * waiter's next co_await throws it.
 *
 * @par Shutdown
 * A waiter still parked when its io_context is destroyed is destroyed with it (as a timer's
 * would be), through the context's DoorbellService.
 */
class Doorbell {
public:
    /** For a waiter that runs on `ex` (a connection's strand, or its io_context's executor). */
    explicit Doorbell(net::any_io_executor ex);
    ~Doorbell();
    Doorbell(Doorbell const&) = delete;
    Doorbell& operator=(Doorbell const&) = delete;

    /** Completes at the next ring() (or cancellation). One waiter at a time. */
    auto wait() {
        return net::async_initiate<decltype(use_nothrow) const, void(boost::system::error_code)>(
            [this](auto handler) { park(Handler(std::move(handler))); }, use_nothrow);
    }

    /** Wakes the waiter, if any (its completion is posted, never run inside ring()). */
    void ring() { complete(boost::system::error_code{}, true); }

    /** True while a coroutine waits. */
    [[nodiscard]] bool waiting() const noexcept { return static_cast<bool>(handler_); }

private:
    friend class DoorbellService;
    using Handler = net::any_completion_handler<void(boost::system::error_code)>;

    void park(Handler handler);
    void complete(boost::system::error_code ec, bool clear_slot);

    net::any_io_executor ex_;
    DoorbellService& service_;
    Handler handler_;
    // The service's list of doorbells (for its shutdown).
    Doorbell* prev_ = nullptr;
    Doorbell* next_ = nullptr;
};

} // namespace canal::detail
