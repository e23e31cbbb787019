// The handler thread pool: where sync consumers' handlers and sync_to_async work run.
#pragma once

#include <canal/core/net.hpp>

#include <cstddef>
#include <chrono>
#include <functional>
#include <memory>

namespace canal {

/**
 * Sets the number of handler threads (sync consumers, sync_to_async). 0 restores the
 * default: twice the core count, at least 4. Takes effect for threads started afterwards.
 *
 * @par Thread safety
 * Safe from any thread.
 */
void set_handler_threads(unsigned threads);

/** The configured number of handler threads. */
[[nodiscard]] unsigned handler_threads() noexcept;

namespace detail {

/** Queues `task` on the handler pool. */
void post_to_handler_pool(std::function<void()> task);

/** Counts a pool task that will post back to an io_context (sync_to_async). */
void begin_pool_post() noexcept;
/** That task has finished touching the io_context. */
void end_pool_post() noexcept;
/**
 * Waits up to `limit` until no pool task is between its work and the end of its post back
 * (a Server does before destroying its io_context). True when none is left.
 */
bool wait_for_pool_posts(std::chrono::milliseconds limit);

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
    bool counted_;
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
