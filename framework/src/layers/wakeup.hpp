// Wakeups across threads for the local channels: a receiver's Wakeup, notified by senders
// on any thread, and the WakeBatch that delivers a burst's wakeups together.
#pragma once

#include <canal/core/net.hpp>

#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace canal::detail {

// Wakes a channel's receiver, from any thread: a coroutine waiting in wait(), or a callback
// armed with async_wait(). Not a steady_timer: a timer must not be cancelled from one thread
// while its owner starts async_wait on another (a race, and a lost wakeup when the cancel
// comes first). One notification is kept until the receiver waits; the rest coalesce.
//
// A coroutine waits on a thread-safe channel, made at its first wait (cancellable, posts
// the completion to the receiver's executor). A callback (a consumer's receiver, armed for
// the connection's whole idle life) is only stored: notify() posts it to the receiver's
// executor. It is not outstanding work while armed (the consumer's own wait for its inbox
// is). Either way an idle receiver costs a couple of hundred bytes, not the channel's
// buffers.
//
// The receiver's executor belongs to its io_context, so only the receiver retires the
// Wakeup (retire(), while that io_context is alive): a sender that copied the pointer under
// the layer's lock and notifies after the receive ended (and its io_context is gone) finds
// it retired and touches nothing of the dead context.
class Wakeup {
public:
    explicit Wakeup(net::any_io_executor ex) : ex_(std::move(ex)) {}

    Wakeup(Wakeup const&) = delete;
    Wakeup& operator=(Wakeup const&) = delete;

    /** From any thread: wakes the receiver unless it is gone. */
    void notify() {
        std::lock_guard lock(mutex_);
        if (retired_) {
            return;
        }
        if (callback_) {
            // Posted under the lock: retire() cannot let the executor go meanwhile.
            net::post(ex_, std::exchange(callback_, nullptr));
        } else if (channel_) {
            channel_->try_send(boost::system::error_code());
        } else {
            pending_ = true;
        }
    }

    /**
     * The receiver's side: waits for a notification (or a cancellation). The receiver's own
     * executor only.
     */
    auto wait() {
        {
            std::lock_guard lock(mutex_);
            if (!channel_) {
                channel_ = std::make_unique<Channel>(ex_, 1);
                if (std::exchange(pending_, false)) {
                    channel_->try_send(boost::system::error_code());
                }
            }
        }
        return channel_->async_receive(use_nothrow);
    }

    /**
     * The same for a callback, run on the receiver's executor at the next notification (at
     * once, posted, if one is pending): false when retired. One callback at a time.
     */
    bool async_wait(std::function<void()> callback) {
        std::lock_guard lock(mutex_);
        if (retired_) {
            return false;
        }
        if (std::exchange(pending_, false)) {
            net::post(ex_, std::move(callback));
        } else {
            callback_ = std::move(callback);
        }
        return true;
    }

    /** True for the caller that marks it first (it is then in a WakeBatch). */
    bool mark_batched() noexcept { return !batched_.exchange(true, std::memory_order_acq_rel); }
    void clear_batched() noexcept { batched_.store(false, std::memory_order_release); }

    /** The receiver's side, when its receive() ends: drops the channel and the callback. */
    void retire() noexcept {
        std::function<void()> callback; // destroyed unlocked: it may own the receiver
        std::unique_ptr<Channel> channel;
        {
            std::lock_guard lock(mutex_);
            retired_ = true;
            callback = std::move(callback_);
            callback_ = nullptr;
            channel = std::move(channel_);
        }
    }

private:
    using Channel = net::experimental::concurrent_channel<void(boost::system::error_code)>;

    std::mutex mutex_;
    net::any_io_executor ex_;
    std::function<void()> callback_;
    std::unique_ptr<Channel> channel_;
    bool pending_ = false;
    bool retired_ = false;
    std::atomic<bool> batched_{false};
};

// The wakeups of group_send's receivers, delivered once the sending thread has gone a turn
// of its event loop without another group_send (or after a bounded number of turns). A
// sender that bursts then hands each member many messages per wakeup instead of one: the
// member's consumer runs once for all of them and its socket write carries all their
// frames (uWebSockets batches a topic's messages per loop iteration the same way).
class WakeBatch : public std::enable_shared_from_this<WakeBatch> {
public:
    /** The calling thread's batch. */
    static std::shared_ptr<WakeBatch> const& of_this_thread() {
        thread_local auto const batch = std::make_shared<WakeBatch>();
        return batch;
    }

    void add(net::any_io_executor const& ex, std::vector<std::shared_ptr<Wakeup>>& receivers) {
        bool post = false;
        {
            std::lock_guard lock(mutex_);
            ++activity_;
            for (auto& r : receivers) {
                if (r->mark_batched()) {
                    list_.push_back(std::move(r));
                }
            }
            if (!posted_ && !list_.empty()) {
                posted_ = true;
                post = true;
                seen_ = activity_;
                turns_ = 0;
                quiet_ = 0;
            }
        }
        if (post) {
            schedule(ex);
        }
    }

private:
    static constexpr int max_turns = 16;

    // Runs `step` later on `ex`; if the handler is destroyed unrun (its io_context is going
    // away), the receivers are woken at once so nothing waits forever.
    void schedule(net::any_io_executor const& ex) {
        struct Step {
            std::shared_ptr<WakeBatch> self;
            net::any_io_executor ex;
            bool ran = false;
            Step(std::shared_ptr<WakeBatch> s, net::any_io_executor e)
                : self(std::move(s)), ex(std::move(e)) {}
            Step(Step&& o) noexcept : self(std::move(o.self)), ex(std::move(o.ex)), ran(o.ran) {
                o.ran = true;
            }
            Step(Step const&) = delete;
            Step& operator=(Step const&) = delete;
            Step& operator=(Step&&) = delete;
            ~Step() {
                if (!ran && self) {
                    self->flush();
                }
            }
            void operator()() {
                ran = true;
                self->step(ex);
            }
        };
        net::post(ex, Step(shared_from_this(), ex));
    }

    void step(net::any_io_executor const& ex) {
        bool again = false;
        {
            std::lock_guard lock(mutex_);
            quiet_ = activity_ == seen_ ? quiet_ + 1 : 0;
            seen_ = activity_;
            ++turns_;
            // Two quiet turns: the sender's next message, if any, would have come by now.
            again = quiet_ < 2 && turns_ < max_turns;
        }
        if (again) {
            schedule(ex);
        } else {
            flush();
        }
    }

    void flush() {
        std::vector<std::shared_ptr<Wakeup>> list;
        {
            std::lock_guard lock(mutex_);
            list.swap(list_);
            posted_ = false;
        }
        for (auto const& r : list) {
            r->clear_batched();
            r->notify();
        }
    }

    std::mutex mutex_;
    std::vector<std::shared_ptr<Wakeup>> list_;
    bool posted_ = false;
    std::uint64_t activity_ = 0;
    std::uint64_t seen_ = 0;
    int turns_ = 0;
    int quiet_ = 0;
};

} // namespace canal::detail
