// The handler pool: a fixed set of threads plus stand-ins for threads blocked in
// async_to_sync(), so that nested sync → async → sync work always finds a thread.
#include <canal/sync/handler_pool.hpp>

#include <canal/core/errors.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace canal {

namespace {

unsigned default_threads() { return std::max(4U, 2 * std::thread::hardware_concurrency()); }

thread_local bool t_pool_thread = false;
thread_local bool t_io_thread = false;
thread_local net::any_io_executor const* t_io_executor = nullptr;

class Pool {
public:
    void post(std::function<void()> task) {
        std::unique_lock lock(mutex_);
        tasks_.push_back(std::move(task));
        // An idle thread that was notified but has not woken yet still counts as idle:
        // compare the queue with the idle threads, not just "is one idle".
        if (tasks_.size() > idle_ && running_ - blocked_ < target_) {
            start_thread_locked();
        }
        bool const wake = idle_ > 0;
        lock.unlock();
        if (wake) {
            cv_.notify_one();
        }
    }

    void set_target(unsigned n) {
        {
            std::lock_guard lock(mutex_);
            target_ = n == 0 ? default_threads() : n;
        }
        cv_.notify_all(); // idle threads above a smaller target retire now
    }

    unsigned target() {
        std::lock_guard lock(mutex_);
        return target_;
    }

    void enter_blocking() {
        std::lock_guard lock(mutex_);
        ++blocked_;
        // One fewer thread takes work now: stand in for it if work is waiting.
        if (!tasks_.empty() && idle_ == 0 && running_ - blocked_ < target_) {
            start_thread_locked();
        }
    }

    void leave_blocking() {
        std::lock_guard lock(mutex_);
        --blocked_;
    }

private:
    void start_thread_locked() {
        ++running_;
        std::thread([this] { work(); }).detach();
    }

    void work() {
        t_pool_thread = true;
        std::unique_lock lock(mutex_);
        for (;;) {
            while (tasks_.empty()) {
                // A stand-in retires once the thread it replaced is back.
                if (running_ - blocked_ > target_) {
                    --running_;
                    return;
                }
                ++idle_;
                cv_.wait(lock);
                --idle_;
            }
            auto task = std::move(tasks_.front());
            tasks_.pop_front();
            lock.unlock();
            task();
            task = nullptr; // destroy captures outside the lock
            lock.lock();
        }
    }

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> tasks_;
    unsigned target_ = default_threads();
    unsigned running_ = 0;
    unsigned blocked_ = 0;
    unsigned idle_ = 0;
};

// Never destroyed: detached pool threads may still run while static objects are torn down.
Pool& pool() {
    static Pool* const instance = new Pool;
    return *instance;
}

} // namespace

void set_handler_threads(unsigned threads) { pool().set_target(threads); }

unsigned handler_threads() noexcept { return pool().target(); }

namespace detail {

void post_to_handler_pool(std::function<void()> task) { pool().post(std::move(task)); }

namespace {
std::atomic<std::size_t> pool_posts_in_flight{0};
} // namespace

void begin_pool_post() noexcept { pool_posts_in_flight.fetch_add(1, std::memory_order_relaxed); }

void end_pool_post() noexcept { pool_posts_in_flight.fetch_sub(1, std::memory_order_release); }

bool wait_for_pool_posts(std::chrono::milliseconds limit) {
    auto const deadline = std::chrono::steady_clock::now() + limit;
    while (pool_posts_in_flight.load(std::memory_order_acquire) != 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

BlockingRegion::BlockingRegion() : counted_(t_pool_thread) {
    if (counted_) {
        pool().enter_blocking();
    }
}

BlockingRegion::~BlockingRegion() {
    if (counted_) {
        pool().leave_blocking();
    }
}

net::any_io_executor const* current_io_executor() noexcept { return t_io_executor; }

IoExecutorScope::IoExecutorScope(net::any_io_executor const& ex) noexcept
    : previous_(t_io_executor) {
    t_io_executor = &ex;
}

IoExecutorScope::~IoExecutorScope() { t_io_executor = previous_; }

bool on_io_thread() noexcept { return t_io_thread; }

IoThreadScope::IoThreadScope() noexcept : previous_(t_io_thread) { t_io_thread = true; }

IoThreadScope::~IoThreadScope() { t_io_thread = previous_; }

void throw_async_to_sync_on_io_thread() {
    throw Error("async_to_sync() called on an I/O thread: it would block every connection of "
                "that thread. Call it from a sync consumer's handler or from sync_to_async() "
                "work, or simply co_await the awaitable here");
}

void throw_async_to_sync_without_executor() {
    throw Error("async_to_sync() has no I/O executor on this thread: call it from a sync "
                "consumer's handler or sync_to_async() work, or pass one: "
                "async_to_sync(executor, f)");
}

} // namespace detail
} // namespace canal
