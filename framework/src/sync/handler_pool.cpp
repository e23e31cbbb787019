// The handler pools: one per io_context (a Server's, a communicator's), each a set of
// threads plus stand-ins for threads blocked in async_to_sync(), so that nested
// sync → async → sync work always finds a thread.
#include <canal/sync/handler_pool.hpp>

#include <canal/core/errors.hpp>

#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace canal {

namespace {

// Read once: hardware_concurrency() reads /sys on every call, and pools ask at every post.
unsigned default_threads() {
    static unsigned const n = std::max(4U, 2 * std::thread::hardware_concurrency());
    return n;
}

// The size of every pool that was not given its own (set_handler_threads).
std::atomic<unsigned> g_default_target{0}; // 0: default_threads()

unsigned process_target() {
    auto const n = g_default_target.load(std::memory_order_relaxed);
    return n == 0 ? default_threads() : n;
}

thread_local bool t_io_thread = false;
thread_local net::any_io_executor const* t_io_executor = nullptr;

// Pool threads are detached, so one may still be leaving when the process exits. OpenSSL's
// exit handler deletes the key of its per-thread state (the error queue, 904 bytes), and a
// thread that leaves after it can no longer free that state: a leak report at exit. Keep
// OpenSSL's per-thread cleanup alive until the end (no exit handler; its globals stay
// reachable), and free a pool thread's state when it leaves (work()).
[[maybe_unused]] int const g_openssl_without_exit_handler =
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);

} // namespace

namespace detail {

// One io_context's handler threads, plus stand-ins for threads blocked in async_to_sync().
// Threads hold the pool (shared_ptr): it outlives its io_context until they have left.
class HandlerPool : public std::enable_shared_from_this<HandlerPool> {
public:
    void post(std::function<void()> task) {
        std::unique_lock lock(mutex_);
        tasks_.push_back(std::move(task));
        // An idle thread that was notified but has not woken yet still counts as idle:
        // compare the queue with the idle threads, not just "is one idle".
        if (tasks_.size() > idle_ && running_ - blocked_ < target_locked()) {
            start_thread_locked();
        }
        bool const wake = idle_ > 0;
        lock.unlock();
        if (wake) {
            cv_.notify_one();
        }
    }

    void set_own_target(unsigned n) {
        {
            std::lock_guard lock(mutex_);
            own_target_ = n;
        }
        cv_.notify_all(); // idle threads above a smaller target retire now
    }

    /** Its io_context is gone: the threads finish what is queued, then leave. */
    void close() {
        {
            std::lock_guard lock(mutex_);
            closed_ = true;
        }
        cv_.notify_all();
    }

    void enter_blocking() {
        std::lock_guard lock(mutex_);
        ++blocked_;
        // One fewer thread takes work now: stand in for it if work is waiting.
        if (!tasks_.empty() && idle_ == 0 && running_ - blocked_ < target_locked()) {
            start_thread_locked();
        }
    }

    void leave_blocking() {
        std::lock_guard lock(mutex_);
        --blocked_;
    }

    void begin_post() noexcept { posts_in_flight_.fetch_add(1, std::memory_order_relaxed); }
    void end_post() noexcept { posts_in_flight_.fetch_sub(1, std::memory_order_release); }
    [[nodiscard]] bool posts_done() const noexcept {
        return posts_in_flight_.load(std::memory_order_acquire) == 0;
    }

    HandlerPoolStats stats() {
        std::lock_guard lock(mutex_);
        return HandlerPoolStats{running_, running_ - idle_, tasks_.size()};
    }

    /** The pool whose thread this is (null on other threads). */
    static HandlerPool* current() noexcept { return t_current; }

private:
    unsigned target_locked() const { return own_target_ != 0 ? own_target_ : process_target(); }

    void start_thread_locked() {
        ++running_;
        std::thread([self = shared_from_this()] { self->work(); }).detach();
    }

    void work() {
        t_current = this;
        std::unique_lock lock(mutex_);
        for (;;) {
            while (tasks_.empty()) {
                // A stand-in retires once the thread it replaced is back; every thread
                // leaves once the pool is closed.
                if (closed_ || running_ - blocked_ > target_locked()) {
                    --running_;
                    lock.unlock();
                    OPENSSL_thread_stop();
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

    static thread_local HandlerPool* t_current;

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> tasks_;
    unsigned own_target_ = 0; // 0: the process's
    unsigned running_ = 0;
    unsigned blocked_ = 0;
    unsigned idle_ = 0;
    bool closed_ = false;
    std::atomic<std::size_t> posts_in_flight_{0};
};

thread_local HandlerPool* HandlerPool::t_current = nullptr;

namespace {

// The pool of one io_context (a Server's, a communicator's), created on first use.
class HandlerPoolService : public net::execution_context::service {
public:
    using key_type = HandlerPoolService;
    static inline net::execution_context::id id;

    explicit HandlerPoolService(net::execution_context& ctx)
        : net::execution_context::service(ctx), pool_(std::make_shared<HandlerPool>()) {}

    HandlerPool& pool() noexcept { return *pool_; }

private:
    void shutdown() override { pool_->close(); }

    std::shared_ptr<HandlerPool> pool_;
};

} // namespace

HandlerPool& handler_pool_of(net::execution_context& ctx) {
    return net::use_service<HandlerPoolService>(ctx).pool();
}

HandlerPool& handler_pool_of(net::any_io_executor const& ex) {
    return handler_pool_of(net::query(ex, net::execution::context));
}

void pool_post(HandlerPool& pool, std::function<void()> task) { pool.post(std::move(task)); }

void post_to_handler_pool(net::any_io_executor const& ex, std::function<void()> task) {
    handler_pool_of(ex).post(std::move(task));
}

void set_pool_threads(net::execution_context& ctx, unsigned threads) {
    handler_pool_of(ctx).set_own_target(threads);
}

HandlerPoolStats handler_pool_stats(net::execution_context& ctx) {
    return handler_pool_of(ctx).stats();
}

void begin_pool_post(HandlerPool& pool) noexcept { pool.begin_post(); }

void end_pool_post(HandlerPool& pool) noexcept { pool.end_post(); }

bool wait_for_pool_posts(net::execution_context& ctx, std::chrono::milliseconds limit) {
    auto& pool = handler_pool_of(ctx);
    auto const deadline = std::chrono::steady_clock::now() + limit;
    while (!pool.posts_done()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

BlockingRegion::BlockingRegion() : pool_(HandlerPool::current()) {
    if (pool_ != nullptr) {
        pool_->enter_blocking();
    }
}

BlockingRegion::~BlockingRegion() {
    if (pool_ != nullptr) {
        pool_->leave_blocking();
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

void set_handler_threads(unsigned threads) {
    g_default_target.store(threads, std::memory_order_relaxed);
}

unsigned handler_threads() noexcept { return process_target(); }

} // namespace canal
