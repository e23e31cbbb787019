// Drives coroutines from a test: run_async (one io_context, bounded), run_sync (one operation
// on the calling thread), and helpers shared by the layer and Redis tests.
#pragma once

#include <canal/core/message.hpp>
#include <canal/core/net.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/object.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace canal::test {

/** Every io_context a test runs stops after this, so a lost wakeup fails instead of hanging. */
inline constexpr auto run_deadline = std::chrono::seconds(20);

/**
 * An io_context for one run_async() or run_sync() call: the calling thread's own one,
 * reused from call to call and kept until the thread ends, or a fresh one for a call made
 * from inside another. A layer's own thread may still hold a receive's wakeup (an I/O
 * object of the receiving io_context) for a moment after that receive completed, so a
 * test must not destroy the io_context that received while the layer lives.
 */
class ContextLease {
public:
    ContextLease() {
        if (depth()++ == 0) {
            context_ = &shared();
            context_->restart();
        } else {
            context_ = &nested_.emplace();
        }
    }
    ~ContextLease() { --depth(); }
    ContextLease(ContextLease const&) = delete;
    ContextLease& operator=(ContextLease const&) = delete;

    net::io_context& get() noexcept { return *context_; }

    /**
     * Gives up a context whose operation missed the deadline: its pending handlers refer
     * to the caller's dead locals, so it is never run again (nor destroyed: leaked).
     */
    void abandon() {
        if (!nested_) {
            (void)shared_slot().release();
        }
    }

private:
    static int& depth() {
        thread_local int value = 0;
        return value;
    }
    static std::unique_ptr<net::io_context>& shared_slot() {
        thread_local std::unique_ptr<net::io_context> value;
        return value;
    }
    static net::io_context& shared() {
        auto& slot = shared_slot();
        if (!slot) {
            slot = std::make_unique<net::io_context>();
        }
        return *slot;
    }
    std::optional<net::io_context> nested_;
    net::io_context* context_ = nullptr;
};

/** Runs the coroutine function `f` on the thread's io_context; what it throws fails the test. */
template <typename F>
void run_async(F f) {
    ContextLease lease;
    auto& ioc = lease.get();
    bool finished = false;
    std::exception_ptr failure;
    net::co_spawn(ioc, std::move(f), [&](std::exception_ptr e) {
        finished = true;
        failure = e;
    });
    ioc.run_for(run_deadline);
    if (failure) {
        std::rethrow_exception(failure);
    }
    if (!finished) {
        lease.abandon();
    }
    BOOST_REQUIRE_MESSAGE(finished, "the test coroutine did not finish within the deadline");
}

/** Runs one operation to completion on the calling thread and returns its result. */
template <typename T>
T run_sync(awaitable<T> op) {
    ContextLease lease;
    auto& ioc = lease.get();
    std::optional<T> result;
    std::exception_ptr failure;
    net::co_spawn(ioc, std::move(op), [&](std::exception_ptr e, T value) {
        failure = e;
        if (!e) {
            result = std::move(value);
        }
    });
    ioc.run_for(run_deadline);
    if (failure) {
        std::rethrow_exception(failure);
    }
    if (!result) {
        lease.abandon();
        throw std::runtime_error("operation still pending after the deadline");
    }
    return std::move(*result);
}

/** run_sync() for operations without a result. */
inline void run_sync(awaitable<void> op) {
    ContextLease lease;
    auto& ioc = lease.get();
    std::exception_ptr failure;
    bool finished = false;
    net::co_spawn(ioc, std::move(op), [&](std::exception_ptr e) {
        failure = e;
        finished = true;
    });
    ioc.run_for(run_deadline);
    if (failure) {
        std::rethrow_exception(failure);
    }
    if (!finished) {
        lease.abandon();
        throw std::runtime_error("operation still pending after the deadline");
    }
}

/** Waits `duration` on the current executor (only where time must pass, e.g. expiry). */
inline awaitable<void> pause(std::chrono::milliseconds duration) {
    net::steady_timer timer(co_await net::this_coro::executor, duration);
    co_await timer.async_wait(use_awaitable);
}

/** {"type": type, "n": n}. */
inline Message numbered(std::string type, std::int64_t n) {
    boost::json::object obj;
    obj["type"] = std::move(type);
    obj["n"] = n;
    return Message(std::move(obj));
}

/** Expects `statement` (with co_await) to throw E whose message starts with `prefix`. */
#define CANAL_CO_CHECK_THROW(E, statement, prefix)                                                 \
    do {                                                                                           \
        std::string what_ = "(nothing thrown)";                                                    \
        try {                                                                                      \
            statement;                                                                             \
        } catch (E const& e_) {                                                                    \
            what_ = e_.what();                                                                     \
        }                                                                                          \
        BOOST_TEST(what_.starts_with(prefix), "threw: " << what_);                                 \
    } while (false)

} // namespace canal::test
