// The handler thread pools: where sync consumers' handlers and sync_to_async work run. Each
// io_context has its own (a Server's is sized by Settings::handler_threads); the process
// sets the size of those not given one.
#pragma once

#include <canal/core/net.hpp>

#include <boost/asio/execution_context.hpp>

#include <cstddef>
#include <chrono>
#include <functional>
#include <memory>

namespace canal {

/**
 * Sets the number of handler threads (sync consumers, sync_to_async) of every pool that
 * was not given its own size: the pools of communicators, of io_contexts of your own, and
 * of Servers whose Settings::handler_threads is 0. 0 restores the default: twice the core
 * count, at least 4. Takes effect as the pools start or retire threads.
 *
 * @par Thread safety
 * Safe from any thread.
 */
void set_handler_threads(unsigned threads);

/** The number of handler threads of a pool not given its own size. */
[[nodiscard]] unsigned handler_threads() noexcept;

namespace detail {

class HandlerPool;

/** The handler pool of `ctx` (created on first use, closed with `ctx`). */
HandlerPool& handler_pool_of(net::execution_context& ctx);
/** The handler pool of the io_context behind `ex`. */
HandlerPool& handler_pool_of(net::any_io_executor const& ex);

/** Queues `task` on `pool`. */
void pool_post(HandlerPool& pool, std::function<void()> task);

/** Queues `task` on the handler pool of the io_context behind `ex`. */
void post_to_handler_pool(net::any_io_executor const& ex, std::function<void()> task);

/** Gives `ctx`'s pool its own size (0: the process's, set_handler_threads()). */
void set_pool_threads(net::execution_context& ctx, unsigned threads);

/** What a handler pool is doing: threads, those running a task, and tasks waiting. */
struct HandlerPoolStats {
    unsigned threads = 0;
    unsigned busy = 0;
    std::size_t queued = 0;
};
/** The stats of `ctx`'s pool (locks the pool briefly). */
HandlerPoolStats handler_pool_stats(net::execution_context& ctx);

/** Counts a pool task that will post back to the pool's io_context (sync_to_async). */
void begin_pool_post(HandlerPool& pool) noexcept;
/** That task has finished touching the io_context. */
void end_pool_post(HandlerPool& pool) noexcept;
/**
 * Waits up to `limit` until no task of `ctx`'s pool is between its work and the end of its
 * post back (a Server does before destroying its io_context). True when none is left.
 */
bool wait_for_pool_posts(net::execution_context& ctx, std::chrono::milliseconds limit);

/**
 * While alive, the calling pool thread counts as blocked on async work (async_to_sync):
 * if work is queued and no thread is free, the pool starts a stand-in thread, so nested
 * sync → async → sync calls never starve it.
 */
class BlockingRegion {
public:
    BlockingRegion();
    ~BlockingRegion();
    BlockingRegion(BlockingRegion const&) = delete;
    BlockingRegion& operator=(BlockingRegion const&) = delete;

private:
    HandlerPool* pool_;
};

/** The I/O executor that async_to_sync() uses on this thread (null when none). */
[[nodiscard]] net::any_io_executor const* current_io_executor() noexcept;

/** Sets current_io_executor() for the lifetime of the object. */
class IoExecutorScope {
public:
    explicit IoExecutorScope(net::any_io_executor const& ex) noexcept;
    ~IoExecutorScope();
    IoExecutorScope(IoExecutorScope const&) = delete;
    IoExecutorScope& operator=(IoExecutorScope const&) = delete;

private:
    net::any_io_executor const* previous_;
};

/** True on a thread that runs I/O (a Server thread, a communicator while it runs). */
[[nodiscard]] bool on_io_thread() noexcept;

/** Marks the calling thread as an I/O thread for the lifetime of the object. */
class IoThreadScope {
public:
    IoThreadScope() noexcept;
    ~IoThreadScope();
    IoThreadScope(IoThreadScope const&) = delete;
    IoThreadScope& operator=(IoThreadScope const&) = delete;

private:
    bool previous_;
};

} // namespace detail
} // namespace canal
