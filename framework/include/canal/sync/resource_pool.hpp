// ResourcePool: a bounded pool of blocking resources (database connections), opened on demand
// and lent to one thread at a time: at most `size` for all handler threads together.
#pragma once

#include <canal/core/errors.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace canal {

/** Every resource of a ResourcePool stayed busy for as long as a caller could wait. */
class PoolExhausted : public Error {
public:
    using Error::Error;
};

/**
 * At most `size` resources of type T, opened by `open` when none is idle, kept for reuse, and
 * dropped when a call that used one throws (the next call opens a fresh one): a connection
 * left in an unknown state is never lent again.
 *
 * Blocking: use it from the handler pool (a sync consumer's handler, or sync_to_async() from a
 * coroutine), never on an I/O thread.
 *
 * @par Thread safety
 * Safe from any thread; at most `size` calls run at once, the others wait up to `wait`.
 */
template <typename T>
class ResourcePool {
public:
    /** Opens a resource; may throw (the caller of with() gets the exception). */
    using Open = std::function<std::unique_ptr<T>()>;

    /**
     * @param open  opens one resource (called outside the pool's lock: it may take seconds)
     * @param size  resources open at most at once (at least 1)
     * @param wait  how long with() waits for a free resource before throwing PoolExhausted
     */
    ResourcePool(Open open, std::size_t size, std::chrono::milliseconds wait)
        : open_(std::move(open)), size_(size == 0 ? 1 : size), wait_(wait) {}

    ResourcePool(ResourcePool const&) = delete;
    ResourcePool& operator=(ResourcePool const&) = delete;

    /**
     * Runs `fn(T&)` with an idle resource, a new one if fewer than `size` are open, or the
     * first one given back within `wait` (else PoolExhausted). Returns what `fn` returns; an
     * exception from `fn` closes that resource and reaches the caller.
     */
    template <typename Fn>
    auto with(Fn&& fn) {
        auto resource = acquire();
        try {
            if constexpr (std::is_void_v<decltype(fn(*resource))>) {
                fn(*resource);
                release(std::move(resource));
            } else {
                auto result = fn(*resource);
                release(std::move(resource));
                return result;
            }
        } catch (...) {
            resource.reset();
            discard();
            throw;
        }
    }

    /** Resources open now (lent or idle). */
    [[nodiscard]] std::size_t open_count() const {
        std::lock_guard lock(mutex_);
        return open_count_;
    }

private:
    std::unique_ptr<T> acquire() {
        std::unique_lock lock(mutex_);
        bool const free =
            freed_.wait_for(lock, wait_, [&] { return !idle_.empty() || open_count_ < size_; });
        if (!free) {
            throw PoolExhausted("all " + std::to_string(size_) + " connections stayed busy for " +
                                std::to_string(wait_.count()) + " ms");
        }
        if (!idle_.empty()) {
            auto resource = std::move(idle_.back());
            idle_.pop_back();
            return resource;
        }
        ++open_count_;
        lock.unlock();
        try {
            return open_();
        } catch (...) {
            discard();
            throw;
        }
    }

    void release(std::unique_ptr<T> resource) {
        {
            std::lock_guard lock(mutex_);
            idle_.push_back(std::move(resource));
        }
        freed_.notify_one();
    }

    void discard() {
        {
            std::lock_guard lock(mutex_);
            --open_count_;
        }
        freed_.notify_one();
    }

    Open open_;
    std::size_t size_;
    std::chrono::milliseconds wait_;
    mutable std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<T>> idle_;
    std::size_t open_count_ = 0;
};

} // namespace canal
