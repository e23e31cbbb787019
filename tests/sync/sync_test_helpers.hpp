// Helpers of the sync tests: an io_context on threads of its own, coroutines and plain
// threads run with a deadline, a gate that blocking handlers wait on (with a timeout), the
// handler pool size set for one test, and a thread-safe log that handlers write to.
#pragma once

// Workaround: sync_to_async.hpp uses std::monostate without including <variant> (reported).
#include <variant>

#include <canal/core/net.hpp>
#include <canal/sync/handler_pool.hpp>
#include <canal/sync/sync_to_async.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace canal::test {

using namespace std::chrono_literals;

/** Upper bound of any single wait in these tests: a deadlock fails, it does not hang. */
inline constexpr std::chrono::milliseconds deadline = 10s;

/**
 * An io_context run by `n` threads of its own until destruction. The destructor waits (with
 * a deadline) for the work to end; if it does not, it stops the context and leaks it, so
 * that pool work still holding its executor cannot touch freed memory after a failure.
 */
class IoThreads {
public:
    explicit IoThreads(unsigned n = 1)
        : ioc_(new net::io_context(static_cast<int>(n))), guard_(ioc_->get_executor()) {
        for (unsigned i = 0; i < n; ++i) {
            auto done = std::make_shared<std::promise<void>>();
            done_.push_back(done->get_future());
            threads_.emplace_back([ioc = ioc_, done] {
                ioc->run();
                done->set_value();
            });
        }
        std::lock_guard lock(mutex_);
        for (auto const& t : threads_) {
            ids_.push_back(t.get_id());
        }
    }

    ~IoThreads() {
        guard_.reset();
        bool clean = true;
        auto const until = std::chrono::steady_clock::now() + deadline;
        for (auto& d : done_) {
            clean = clean && d.wait_until(until) == std::future_status::ready;
        }
        if (!clean) {
            ioc_->stop();
        }
        for (auto& t : threads_) {
            t.join();
        }
        if (clean) {
            delete ioc_;
        }
    }

    IoThreads(IoThreads const&) = delete;
    IoThreads& operator=(IoThreads const&) = delete;

    [[nodiscard]] net::io_context& context() noexcept { return *ioc_; }
    [[nodiscard]] net::any_io_executor executor() const { return ioc_->get_executor(); }

    /** True when the calling thread is one of this context's threads. */
    [[nodiscard]] bool is_io_thread(std::thread::id id = std::this_thread::get_id()) const {
        std::lock_guard lock(mutex_);
        return std::find(ids_.begin(), ids_.end(), id) != ids_.end();
    }

private:
    net::io_context* ioc_;
    net::executor_work_guard<net::io_context::executor_type> guard_;
    std::vector<std::thread> threads_;
    std::vector<std::future<void>> done_;
    mutable std::mutex mutex_;
    std::vector<std::thread::id> ids_;
};

/**
 * co_spawns `fn()` (a callable returning an awaitable, kept alive by co_spawn) on `ex` and
 * waits for its result up to `timeout`; rethrows what it threw, throws on timeout.
 */
template <typename F>
auto run_on(net::any_io_executor const& ex, F fn, std::chrono::milliseconds timeout = deadline) {
    auto fut = net::co_spawn(ex, std::move(fn), net::use_future);
    if (fut.wait_for(timeout) != std::future_status::ready) {
        throw std::runtime_error("the coroutine did not complete before the deadline (deadlock?)");
    }
    return fut.get();
}

/**
 * Runs `fn()` on a new plain thread and returns its result or rethrows its exception.
 * Throws if it takes longer than `timeout` (the thread is then detached, not waited for).
 */
template <typename F>
auto in_thread(F fn, std::chrono::milliseconds timeout = deadline) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto fut = task.get_future();
    std::thread t(std::move(task));
    if (fut.wait_for(timeout) != std::future_status::ready) {
        t.detach();
        throw std::runtime_error("the thread did not finish before the deadline (deadlock?)");
    }
    t.join();
    return fut.get();
}

/** Sets the handler pool size for one test; restores the previous size afterwards. */
class HandlerThreads {
public:
    explicit HandlerThreads(unsigned n) : previous_(handler_threads()) { set_handler_threads(n); }
    ~HandlerThreads() { set_handler_threads(previous_); }
    HandlerThreads(HandlerThreads const&) = delete;
    HandlerThreads& operator=(HandlerThreads const&) = delete;

private:
    unsigned previous_;
};

/**
 * Lets the pool catch up with a smaller size: surplus threads retire asynchronously, as they
 * wake up idle, so a burst of no-op tasks (and a short pause) makes sure every idle thread
 * has woken and those above the size are gone before a test counts. Throws on timeout.
 */
inline void settle_pool() {
    net::io_context ioc;
    std::vector<std::future<void>> all;
    for (int i = 0; i < 32; ++i) {
        all.push_back(net::co_spawn(
            ioc,
            []() -> awaitable<void> {
                auto noop = [] {};
                co_await sync_to_async(std::move(noop));
            },
            net::use_future));
    }
    ioc.run_for(deadline); // the 32 posts go out back to back, then their completions return
    for (auto& f : all) {
        if (f.wait_for(0s) != std::future_status::ready) {
            throw std::runtime_error("settle_pool: the no-op tasks did not complete");
        }
        f.get();
    }
    // Let the threads that ran out of work see it and retire.
    std::this_thread::sleep_for(20ms);
}

/** A one-shot gate that blocking code waits on, always with a timeout. */
class Gate {
public:
    void open() {
        {
            std::lock_guard lock(mutex_);
            open_ = true;
        }
        cv_.notify_all();
    }
    /** True once open; false when `timeout` passed first. */
    bool wait(std::chrono::milliseconds timeout = deadline) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [this] { return open_; });
    }
    [[nodiscard]] bool is_open() {
        std::lock_guard lock(mutex_);
        return open_;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

/** Opens a gate when it goes out of scope, so that a failed test does not leave handlers
 * blocked (declare it after what must outlive the handlers). */
class OpenOnExit {
public:
    explicit OpenOnExit(std::shared_ptr<Gate> gate) : gate_(std::move(gate)) {}
    ~OpenOnExit() { gate_->open(); }
    OpenOnExit(OpenOnExit const&) = delete;
    OpenOnExit& operator=(OpenOnExit const&) = delete;

private:
    std::shared_ptr<Gate> gate_;
};

/** Polls `condition` until it holds or `timeout` passes. */
template <typename F>
bool wait_until(F&& condition, std::chrono::milliseconds timeout = deadline) {
    auto const until = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= until) {
            return false;
        }
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

/** Counts the tasks running at once and remembers the most seen. */
class InFlight {
public:
    /** Call at the start of a task; returns how many run now (this one included). */
    int enter() {
        int now = ++current_;
        int seen = max_.load();
        while (now > seen && !max_.compare_exchange_weak(seen, now)) {
        }
        return now;
    }
    void leave() { --current_; }
    [[nodiscard]] int max() const { return max_.load(); }

private:
    std::atomic<int> current_{0};
    std::atomic<int> max_{0};
};

/** What blocking handlers did, in order, and on which threads (any thread may write). */
class Log {
public:
    void add(std::string entry) {
        std::lock_guard lock(mutex_);
        entries_.push_back(std::move(entry));
        threads_.push_back(std::this_thread::get_id());
    }
    [[nodiscard]] std::vector<std::string> entries() const {
        std::lock_guard lock(mutex_);
        return entries_;
    }
    [[nodiscard]] std::vector<std::thread::id> threads() const {
        std::lock_guard lock(mutex_);
        return threads_;
    }
    /** True when `entry` was logged. */
    [[nodiscard]] bool has(std::string const& entry) const {
        std::lock_guard lock(mutex_);
        return std::find(entries_.begin(), entries_.end(), entry) != entries_.end();
    }
    /** The rest of the first entry that starts with `prefix` (empty when none). */
    [[nodiscard]] std::string value_of(std::string const& prefix) const {
        std::lock_guard lock(mutex_);
        for (auto const& e : entries_) {
            if (e.starts_with(prefix)) {
                return e.substr(prefix.size());
            }
        }
        return {};
    }
    /** The entries that start with `prefix`, in order. */
    [[nodiscard]] std::vector<std::string> starting_with(std::string const& prefix) const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (auto const& e : entries_) {
            if (e.starts_with(prefix)) {
                out.push_back(e);
            }
        }
        return out;
    }
    /** The entries joined with spaces, for failure messages. */
    [[nodiscard]] std::string str() const {
        std::lock_guard lock(mutex_);
        std::string out;
        for (auto const& e : entries_) {
            out += (out.empty() ? "" : " ") + e;
        }
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> entries_;
    std::vector<std::thread::id> threads_;
};
using LogPtr = std::shared_ptr<Log>;

} // namespace canal::test
