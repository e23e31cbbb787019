// Process-local channel queues, shared by the in-memory layer (which adds groups on top) and
// by the Redis layers' receive side (messages arriving from Redis are handed to the local
// channel they name): bounded queues, message expiry, one receiver per channel, and the
// backpressure of senders waiting for room.
#pragma once

#include "layers/capacity_table.hpp"
#include "layers/channel_receiver.hpp"
#include "layers/wakeup.hpp"

#include <canal/core/message.hpp>
#include <canal/core/net.hpp>
#include <canal/layers/channel_layer.hpp>

#include <boost/container/deque.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace canal::detail {

/** A queued message and when it expires. */
struct Envelope {
    /** When the message expires (LayerSettings::expiry after it was queued). */
    std::chrono::steady_clock::time_point expires;
    /** The message (shared by every member of a group_send). */
    Message message;
};

/** One channel's queue and who waits on it. */
struct ChannelQueue {
    /**
     * Bounded: send() refuses and group_send() waits once it holds `capacity` messages.
     * Boost's deque allocates nothing while empty (std::deque takes ~600 bytes at once, for
     * every idle connection's channel).
     */
    boost::container::deque<Envelope> messages;
    /** settings.capacity, or the first channel_capacity pattern's; 0 until first looked up. */
    std::size_t capacity = 0;
    /** The receive() currently waiting for this channel, if any (at most one). */
    std::shared_ptr<Wakeup> receiver;
    /** group_send()s waiting for room here; woken when the receiver takes a message. */
    std::vector<std::shared_ptr<Wakeup>> space_waiters;
    /** A group message could not be queued in time: the next receive() throws ChannelOverflow. */
    bool overflowed = false;
};

/**
 * Bounded local channels with Channels' in-memory semantics (capacity, expiry). Every member
 * function locks `mutex_` for a short, non-blocking section; wakeups are delivered after
 * unlocking. Shared with pending coroutines (by shared_ptr) so that they never outlive it.
 */
class LocalChannels {
public:
    /** @throws std::invalid_argument for a zero capacity or a non-positive expiry. */
    explicit LocalChannels(LayerSettings s);
    virtual ~LocalChannels() = default;
    LocalChannels(LocalChannels const&) = delete;
    LocalChannels& operator=(LocalChannels const&) = delete;

    /** The settings (checked). */
    LayerSettings const settings;
    /** Messages given up (a channel that stayed full). */
    std::atomic<std::size_t> dropped{0};

    /** Queues `message` on `channel`; @throws ChannelFull when it is full. */
    void send(std::string const& channel, Message message);

    /** Queues `message` unless `channel` holds `capacity` messages; false when it does. */
    bool offer(std::string const& channel, Message message);

    /**
     * Removes and returns the next message of `channel`. When there is none and `wakeup`
     * is set, registers it as the channel's receiver; throws Error when another receive()
     * already waits there, ChannelOverflow when the channel was given up.
     */
    std::optional<Message> take(std::string const& channel, std::shared_ptr<Wakeup> const& wakeup);

    /**
     * Queues `message` on each of `channels` that has room; registers `waiter` (if any) on
     * the others and returns them (the ones still full).
     */
    std::vector<std::string> offer_each(std::vector<std::string> const& channels,
                                        Message const& message,
                                        std::shared_ptr<Wakeup> const& waiter);

    /** Gives up on `channels`: their receivers are told (ChannelOverflow) at their next receive. */
    void overflow(std::vector<std::string> const& channels);

    /** Unregisters a receive() that ends without a message (cancelled or destroyed). */
    void unregister(std::string const& channel, Wakeup const* wakeup) noexcept;

    /** Drops every queued message (waiting receivers stay registered). */
    void flush();

protected:
    using Clock = std::chrono::steady_clock;

    // All below: mutex_ held.

    /** A channel let a message expire (Channels: it leaves its groups). */
    virtual void lapsed_locked(std::string const& /*channel*/) {}
    /** The periodic sweep ran; `lapsed` are the channels that let messages expire. */
    virtual void swept_locked(Clock::time_point /*now*/,
                              std::unordered_set<std::string> const& /*lapsed*/) {}
    /** flush() ran. */
    virtual void flushed_locked() {}

    std::size_t capacity_of(ChannelQueue& queue, std::string const& channel) const;
    /** Drops the expired messages at the front of `queue`; true when it dropped any. */
    static bool drop_expired(ChannelQueue& queue, Clock::time_point now);
    // Channels cleans everything on every receive; here a full pass runs at most once per
    // interval, and the channels an operation touches are cleaned on the spot.
    void sweep_if_due(Clock::time_point now);

    std::mutex mutex_;
    std::unordered_map<std::string, ChannelQueue> channels_;

private:
    std::optional<Message> take_locked(std::string const& channel,
                                       std::shared_ptr<Wakeup> const& wakeup,
                                       std::vector<std::shared_ptr<Wakeup>>& senders);

    Clock::duration const sweep_interval_;
    Clock::time_point next_sweep_;
    CapacityTable const capacities_;
};

/** Bounded local channels with the in-memory layer's semantics (capacity, expiry). */
std::shared_ptr<LocalChannels> make_local_channels(LayerSettings settings);

/** Queues `message` on `channel` without waiting; false (nothing queued) when it is full. */
bool offer_local(LocalChannels& state, std::string const& channel, Message message);

/**
 * Queues `message` on each of `channels`, waiting for room in the full ones (up to
 * `backpressure_timeout`; those still full then are given up, as overflow_local()).
 */
awaitable<void> offer_local_waiting(std::shared_ptr<LocalChannels> state,
                                    std::vector<std::string> channels, Message message);

/**
 * Waits for room in `full` (channels that were full for `message`), queuing it on each as
 * room appears, up to backpressure_timeout; those still full then are given up.
 */
awaitable<void> wait_for_room(std::shared_ptr<LocalChannels> state, std::vector<std::string> full,
                              Message message);

/** Gives `channel` up: its next receive() throws ChannelOverflow (counted as dropped). */
void overflow_local(LocalChannels& state, std::string const& channel);

/** Waits for the next message of `channel` (one receiver per channel; cancellable). */
awaitable<Message> receive_local(std::shared_ptr<LocalChannels> state, std::string channel);

/** receive_local(), but nothing instead of operation_aborted when cancelled. */
awaitable<std::optional<Message>>
receive_local_until_cancelled(std::shared_ptr<LocalChannels> state, std::string channel);

/** A callback receiver of `channel` handing its messages to `sink` (already started). */
std::shared_ptr<ChannelReceiver> attach_local_receiver(std::shared_ptr<LocalChannels> state,
                                                       std::string const& channel,
                                                       net::any_io_executor ex, MessageSink* sink);

/** Messages given up so far (overflow_local() and timed-out offer_local_waiting()). */
std::size_t local_dropped(LocalChannels const& state) noexcept;

/** Drops every queued message. */
void flush_local(LocalChannels& state);

} // namespace canal::detail
