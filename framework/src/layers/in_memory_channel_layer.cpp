// InMemoryChannelLayer: bounded per-channel queues, expiring groups, wakeups across threads.
#include <canal/layers/in_memory_channel_layer.hpp>

#include "detail/crypto.hpp"
#include "layers/capacity_table.hpp"
#include "layers/local_channels.hpp"
#include "layers/presence.hpp"

#include <canal/core/errors.hpp>

#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <iterator>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace canal {

namespace detail {

namespace {

using Clock = std::chrono::steady_clock;

// Wakes the receive() waiting on a channel, from any thread. Not a steady_timer: a timer
// must not be cancelled from one thread while its owner starts async_wait on another
// (a race, and a lost wakeup when the cancel comes first). This channel is thread-safe,
// keeps one pending wakeup in its buffer until the receiver waits, coalesces the rest,
// posts the completion to the receiver's own executor and counts as outstanding work.
//
// The channel belongs to the receiver's io_context, so only the receiver destroys it
// (retire(), while that io_context is alive): a sender that copied the pointer under the
// layer's lock and notifies after the receive ended (and its io_context is gone) finds
// the channel retired and touches nothing of the dead context.
class Wakeup {
public:
    explicit Wakeup(net::any_io_executor const& ex) : channel_(std::in_place, ex, 1) {}

    /** From any thread: wakes the receiver unless it is gone. */
    void notify() {
        std::lock_guard lock(mutex_);
        if (channel_) {
            channel_->try_send(boost::system::error_code());
        }
    }

    /** The receiver's side: waits for a notification (or a cancellation). */
    auto wait() { return channel_->async_receive(use_nothrow); }

    /** The same, with a completion handler (ChannelReceiver): false when retired. */
    template <typename Handler>
    bool async_wait(Handler&& handler) {
        std::lock_guard lock(mutex_);
        if (!channel_) {
            return false;
        }
        channel_->async_receive(std::forward<Handler>(handler));
        return true;
    }

    /** True for the caller that marks it first (it is then in a WakeBatch). */
    bool mark_batched() noexcept { return !batched_.exchange(true, std::memory_order_acq_rel); }
    void clear_batched() noexcept { batched_.store(false, std::memory_order_release); }

    /** The receiver's side, when its receive() ends: destroys the channel. */
    void retire() noexcept {
        std::lock_guard lock(mutex_);
        channel_.reset();
    }

private:
    std::mutex mutex_;
    std::optional<net::experimental::concurrent_channel<void(boost::system::error_code)>> channel_;
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

constexpr std::string_view inmemory_marker = ".inmemory!";
constexpr std::size_t random_letters = 12;
// Channel names are under 100 characters.
constexpr std::size_t max_prefix_length = 99 - inmemory_marker.size() - random_letters;

struct Envelope {
    Clock::time_point expires;
    Message message;
};

struct ChannelQueue {
    // Bounded: send() refuses and group_send() waits once it holds `capacity` messages.
    std::deque<Envelope> messages;
    // settings.capacity, or the first channel_capacity pattern's; 0 until first looked up.
    std::size_t capacity = 0;
    // The receive() currently waiting for this channel, if any (at most one).
    std::shared_ptr<Wakeup> receiver;
    // group_send()s waiting for room here; woken when the receiver takes a message.
    std::vector<std::shared_ptr<Wakeup>> space_waiters;
    // A group message could not be queued in time: the next receive() throws ChannelOverflow.
    bool overflowed = false;
};

void add_waiter(ChannelQueue& queue, std::shared_ptr<Wakeup> const& waiter) {
    if (std::find(queue.space_waiters.begin(), queue.space_waiters.end(), waiter) ==
        queue.space_waiters.end()) {
        queue.space_waiters.push_back(waiter);
    }
}

// A group: member channel → when its membership was last renewed.
using Members = std::unordered_map<std::string, Clock::time_point>;

LayerSettings checked(LayerSettings s) {
    if (s.capacity == 0) {
        throw std::invalid_argument("LayerSettings::capacity must be at least 1");
    }
    if (s.expiry <= std::chrono::milliseconds::zero() ||
        s.group_expiry <= std::chrono::milliseconds::zero()) {
        throw std::invalid_argument("LayerSettings::expiry and group_expiry must be positive");
    }
    return s;
}

} // namespace

/**
 * The state of an InMemoryChannelLayer, shared with its pending coroutines so that they
 * never outlive it. Every member function locks `mutex_` for a short, non-blocking section;
 * wakeups are delivered after unlocking.
 */
class InMemoryLayerState {
public:
    explicit InMemoryLayerState(LayerSettings s)
        : settings(checked(s)),
          sweep_interval_(std::max<Clock::duration>(std::min(s.expiry, s.group_expiry),
                                                    std::chrono::milliseconds(10))),
          next_sweep_(Clock::now() + sweep_interval_),
          capacities_(settings.channel_capacity, settings.capacity) {}

    LayerSettings const settings;
    std::atomic<std::size_t> dropped{0};

    void send(std::string const& channel, Message message) {
        if (!offer(channel, std::move(message))) {
            throw ChannelFull("channel '" + channel + "' is full (capacity " +
                              std::to_string(capacities_.capacity(channel)) + ")");
        }
    }

    /** Queues `message` unless `channel` holds `capacity` messages; false when it does. */
    bool offer(std::string const& channel, Message message) {
        std::shared_ptr<Wakeup> receiver;
        {
            std::lock_guard lock(mutex_);
            auto const now = Clock::now();
            sweep_if_due(now);
            auto& queue = channels_[channel];
            if (drop_expired(queue, now)) {
                leave_all_groups(channel);
            }
            if (queue.messages.size() >= capacity_of(queue, channel)) {
                return false;
            }
            queue.messages.push_back(Envelope{now + settings.expiry, std::move(message)});
            receiver = queue.receiver;
        }
        if (receiver) {
            receiver->notify();
        }
        return true;
    }

    /**
     * Removes and returns the next message of `channel`. When there is none and `wakeup`
     * is set, registers it as the channel's receiver; throws Error when another receive()
     * already waits there.
     */
    std::optional<Message> take(std::string const& channel, std::shared_ptr<Wakeup> const& wakeup) {
        std::vector<std::shared_ptr<Wakeup>> senders;
        std::optional<Message> result;
        std::exception_ptr error;
        {
            std::lock_guard lock(mutex_);
            try {
                result = take_locked(channel, wakeup, senders);
            } catch (...) {
                error = std::current_exception();
            }
        }
        for (auto const& sender : senders) {
            sender->notify();
        }
        if (error) {
            std::rethrow_exception(error);
        }
        return result;
    }

    /**
     * Queues `message` on each of `channels` that has room; registers `waiter` on the
     * others and returns them (the ones still full).
     */
    std::vector<std::string> offer_each(std::vector<std::string> const& channels,
                                        Message const& message,
                                        std::shared_ptr<Wakeup> const& waiter) {
        std::vector<std::string> full;
        std::vector<std::shared_ptr<Wakeup>> receivers;
        {
            std::lock_guard lock(mutex_);
            auto const now = Clock::now();
            for (auto const& channel : channels) {
                auto& queue = channels_[channel];
                drop_expired(queue, now);
                if (queue.overflowed) {
                    continue; // already given up: its receiver is being told
                }
                if (queue.messages.size() >= capacity_of(queue, channel)) {
                    if (waiter) {
                        add_waiter(queue, waiter);
                    }
                    full.push_back(channel);
                    continue;
                }
                queue.messages.push_back(Envelope{now + settings.expiry, message});
                if (queue.receiver) {
                    receivers.push_back(queue.receiver);
                }
            }
        }
        for (auto const& receiver : receivers) {
            receiver->notify();
        }
        return full;
    }

    /** Gives up on `channels`: their receivers are told (ChannelOverflow) at their next receive. */
    void overflow(std::vector<std::string> const& channels) {
        std::vector<std::shared_ptr<Wakeup>> receivers;
        {
            std::lock_guard lock(mutex_);
            for (auto const& channel : channels) {
                auto& queue = channels_[channel];
                if (!queue.overflowed) {
                    queue.overflowed = true;
                    dropped.fetch_add(1, std::memory_order_relaxed);
                }
                if (queue.receiver) {
                    receivers.push_back(queue.receiver);
                }
            }
        }
        for (auto const& receiver : receivers) {
            receiver->notify();
        }
    }

    /** Unregisters a receive() that ends without a message (cancelled or destroyed). */
    void unregister(std::string const& channel, Wakeup const* wakeup) noexcept {
        std::lock_guard lock(mutex_);
        auto it = channels_.find(channel);
        if (it == channels_.end() || it->second.receiver.get() != wakeup) {
            return;
        }
        it->second.receiver.reset();
        if (it->second.messages.empty() && !it->second.overflowed &&
            it->second.space_waiters.empty()) {
            channels_.erase(it);
        }
    }

    std::string new_channel(std::string_view prefix) {
        if (prefix.size() > max_prefix_length || !ChannelLayer::is_valid_group_name(prefix)) {
            throw InvalidName("channel prefix '" + std::string(prefix.substr(0, 120)) +
                              "' is invalid: only ASCII letters, digits, '-', '_' and '.' are "
                              "allowed, under " +
                              std::to_string(max_prefix_length + 1) + " characters");
        }
        // Letters from OpenSSL's CSPRNG: a channel name must not be guessable (whoever
        // knows it can send to that consumer). 256 % 52 leaves a small bias (about 5.6 bits
        // a letter instead of 5.7).
        static constexpr std::string_view letters =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        for (;;) {
            std::string name(prefix);
            name += inmemory_marker;
            for (char byte : detail::random_bytes_cached(random_letters)) {
                name += letters[static_cast<unsigned char>(byte) % letters.size()];
            }
            std::lock_guard lock(mutex_);
            if (!channels_.contains(name)) {
                return name;
            }
        }
    }

    void group_add(std::string const& group, std::string const& channel) {
        std::lock_guard lock(mutex_);
        auto const now = Clock::now();
        sweep_if_due(now);
        groups_[group].insert_or_assign(channel, now);
    }

    void group_discard(std::string const& group, std::string const& channel) {
        std::lock_guard lock(mutex_);
        auto it = groups_.find(group);
        if (it == groups_.end()) {
            return;
        }
        it->second.erase(channel);
        if (it->second.empty()) {
            groups_.erase(it);
        }
    }

    /**
     * Queues `message` on every member with room; returns the members that are full. The
     * receivers to wake are added to `receivers` (the caller wakes them).
     */
    std::vector<std::string> group_send(std::string const& group, Message const& message,
                                        std::vector<std::shared_ptr<Wakeup>>& receivers) {
        std::vector<std::string> full;
        {
            std::lock_guard lock(mutex_);
            auto const now = Clock::now();
            sweep_if_due(now);
            auto g = groups_.find(group);
            if (g == groups_.end()) {
                return full;
            }
            std::vector<std::string> lapsed;
            auto& members = g->second;
            for (auto m = members.begin(); m != members.end();) {
                if (membership_expired(m->second, now)) {
                    m = members.erase(m);
                    continue;
                }
                auto q = channels_.try_emplace(m->first).first;
                auto& queue = q->second;
                if (drop_expired(queue, now)) {
                    // As Channels: a channel that let a message expire leaves its groups.
                    lapsed.push_back(m->first);
                    if (queue.messages.empty() && !queue.receiver) {
                        channels_.erase(q);
                    }
                    m = members.erase(m);
                    continue;
                }
                if (queue.overflowed) {
                    // Already given up (its consumer is being closed): nothing more for it.
                } else if (queue.messages.size() >= capacity_of(queue, m->first)) {
                    full.push_back(m->first);
                } else {
                    // The same Message: every member shares one payload.
                    queue.messages.push_back(Envelope{now + settings.expiry, message});
                    if (queue.receiver) {
                        receivers.push_back(queue.receiver);
                    }
                }
                ++m;
            }
            if (members.empty()) {
                groups_.erase(g);
            }
            for (auto const& channel : lapsed) {
                leave_all_groups(channel);
            }
        }
        return full;
    }

    void flush() {
        std::lock_guard lock(mutex_);
        // A waiting receive() keeps its registration, so a later send still wakes it.
        for (auto it = channels_.begin(); it != channels_.end();) {
            for (auto const& waiter : it->second.space_waiters) {
                waiter->notify();
            }
            it->second.space_waiters.clear();
            it->second.overflowed = false;
            if (it->second.receiver) {
                it->second.messages.clear();
                ++it;
            } else {
                it = channels_.erase(it);
            }
        }
        groups_.clear();
    }

private:
    std::size_t capacity_of(ChannelQueue& queue, std::string const& channel) const {
        if (queue.capacity == 0) {
            queue.capacity = capacities_.capacity(channel);
        }
        return queue.capacity;
    }

    // All below: mutex_ held.

    std::optional<Message> take_locked(std::string const& channel,
                                       std::shared_ptr<Wakeup> const& wakeup,
                                       std::vector<std::shared_ptr<Wakeup>>& senders) {
        auto const now = Clock::now();
        sweep_if_due(now);
        auto it = channels_.find(channel);
        if (it == channels_.end()) {
            if (wakeup) {
                channels_[channel].receiver = wakeup;
            }
            return std::nullopt;
        }
        auto& queue = it->second;
        if (queue.overflowed) {
            senders = std::move(queue.space_waiters);
            auto const capacity = capacity_of(queue, channel);
            channels_.erase(it); // `queue` is gone from here on
            throw ChannelOverflow("channel '" + channel + "' missed messages: it stayed full (" +
                                  std::to_string(capacity) + " messages) for " +
                                  std::to_string(settings.backpressure_timeout.count()) +
                                  " ms, so a message for it could not be queued");
        }
        if (drop_expired(queue, now)) {
            leave_all_groups(channel);
        }
        if (!queue.messages.empty()) {
            Message message = std::move(queue.messages.front().message);
            queue.messages.pop_front();
            // Room for one more: the group_sends waiting here try again.
            senders = std::move(queue.space_waiters);
            queue.space_waiters.clear();
            if (wakeup && queue.receiver == wakeup) {
                queue.receiver.reset();
            }
            if (queue.messages.empty() && !queue.receiver) {
                channels_.erase(it);
            }
            return message;
        }
        if (queue.receiver && queue.receiver != wakeup) {
            throw Error("channel '" + channel +
                        "' already has a waiting receive(): a channel has one receiver; "
                        "use a group to deliver a message to several consumers");
        }
        if (wakeup) {
            queue.receiver = wakeup;
        } else if (!queue.receiver && queue.space_waiters.empty()) {
            channels_.erase(it);
        }
        return std::nullopt;
    }

    bool membership_expired(Clock::time_point renewed, Clock::time_point now) const {
        return now - renewed >= settings.group_expiry;
    }

    /** Drops the expired messages at the front of `queue`; true when it dropped any. */
    static bool drop_expired(ChannelQueue& queue, Clock::time_point now) {
        // Expiry times grow along the queue (one clock, read under the lock).
        bool dropped_any = false;
        while (!queue.messages.empty() && queue.messages.front().expires <= now) {
            queue.messages.pop_front();
            dropped_any = true;
        }
        return dropped_any;
    }

    void leave_all_groups(std::string const& channel) {
        for (auto it = groups_.begin(); it != groups_.end();) {
            it->second.erase(channel);
            it = it->second.empty() ? groups_.erase(it) : std::next(it);
        }
    }

    // Channels cleans everything on every receive; here a full pass runs at most once per
    // interval, and the channels and groups an operation touches are cleaned on the spot.
    void sweep_if_due(Clock::time_point now) {
        if (now < next_sweep_) {
            return;
        }
        next_sweep_ = now + sweep_interval_;
        std::unordered_set<std::string> lapsed;
        for (auto it = channels_.begin(); it != channels_.end();) {
            if (drop_expired(it->second, now)) {
                lapsed.insert(it->first);
            }
            if (it->second.messages.empty() && !it->second.receiver && !it->second.overflowed &&
                it->second.space_waiters.empty()) {
                it = channels_.erase(it);
            } else {
                ++it;
            }
        }
        for (auto group = groups_.begin(); group != groups_.end();) {
            std::erase_if(group->second, [&](auto const& member) {
                return membership_expired(member.second, now) || lapsed.contains(member.first);
            });
            group = group->second.empty() ? groups_.erase(group) : std::next(group);
        }
    }

    Clock::duration const sweep_interval_;
    std::mutex mutex_;
    std::unordered_map<std::string, ChannelQueue> channels_;
    std::unordered_map<std::string, Members> groups_;
    Clock::time_point next_sweep_;
    detail::CapacityTable const capacities_;
};

namespace {

// Owns the wakeup of one receive() and unregisters it however the coroutine ends:
// returned, threw, or destroyed with its io_context.
class ReceiverRegistration {
public:
    ReceiverRegistration(std::shared_ptr<InMemoryLayerState> state, std::string const& channel)
        : state_(std::move(state)), channel_(channel) {}
    ReceiverRegistration(ReceiverRegistration const&) = delete;
    ReceiverRegistration& operator=(ReceiverRegistration const&) = delete;
    ~ReceiverRegistration() {
        if (wakeup_) {
            state_->unregister(channel_, wakeup_.get());
            wakeup_->retire();
        }
    }

    [[nodiscard]] std::shared_ptr<Wakeup> const& wakeup() const noexcept { return wakeup_; }
    void create(net::any_io_executor const& ex) { wakeup_ = std::make_shared<Wakeup>(ex); }

private:
    std::shared_ptr<InMemoryLayerState> state_;
    std::string channel_;
    std::shared_ptr<Wakeup> wakeup_;
};

[[noreturn]] void throw_aborted() {
    throw boost::system::system_error(net::error::operation_aborted);
}

// The coroutines take the state by shared_ptr: a pending operation keeps it alive even
// when the InMemoryChannelLayer object goes first.

awaitable<void> send_op(std::shared_ptr<InMemoryLayerState> state, std::string channel,
                        Message message) {
    ChannelLayer::require_valid_channel_name(channel);
    state->send(channel, std::move(message));
    co_return;
}

// Nothing when cancelled (a consumer's loop ends this way at every disconnect).
awaitable<std::optional<Message>> receive_until_cancelled_op(std::shared_ptr<InMemoryLayerState> state,
                                                             std::string channel) {
    ChannelLayer::require_valid_channel_name(channel);
    auto const cancellation = co_await net::this_coro::cancellation_state;
    ReceiverRegistration registration(state, channel);
    for (;;) {
        auto message = state->take(channel, registration.wakeup());
        if (message) {
            co_return message;
        }
        if (!registration.wakeup()) {
            // Created only when we have to wait; take() again registers it.
            auto ex = co_await net::this_coro::executor;
            registration.create(ex);
            continue;
        }
        if (cancellation.cancelled() != net::cancellation_type::none) {
            co_return std::nullopt;
        }
        // Any result (woken, or cancelled: channel_cancelled) means "look again".
        co_await registration.wakeup()->wait();
        if (cancellation.cancelled() != net::cancellation_type::none) {
            co_return std::nullopt;
        }
    }
}

awaitable<Message> receive_op(std::shared_ptr<InMemoryLayerState> state, std::string channel) {
    auto message = co_await receive_until_cancelled_op(std::move(state), std::move(channel));
    if (!message) {
        throw_aborted();
    }
    co_return std::move(*message);
}

// A channel received by callbacks (see channel_receiver.hpp): one Wakeup for the consumer's
// whole life, armed while the channel is empty; each wakeup drains what the sink has room for.
class LocalReceiver final : public ChannelReceiver,
                            public std::enable_shared_from_this<LocalReceiver> {
public:
    LocalReceiver(std::shared_ptr<InMemoryLayerState> state, std::string channel,
                  net::any_io_executor ex, MessageSink* sink)
        : state_(std::move(state)), channel_(std::move(channel)), ex_(std::move(ex)),
          sink_(sink) {}

    void start() override {
        wakeup_ = std::make_shared<Wakeup>(ex_);
        drain();
    }

    void resume() override {
        if (!armed_) {
            drain();
        }
    }

    void stop() override {
        if (sink_ == nullptr) {
            return;
        }
        sink_ = nullptr;
        if (wakeup_) {
            state_->unregister(channel_, wakeup_.get());
            wakeup_->retire();
        }
    }

    ~LocalReceiver() override { stop(); }

private:
    void drain() {
        while (sink_ != nullptr && sink_->room_for_messages()) {
            std::optional<Message> message;
            try {
                message = state_->take(channel_, wakeup_);
            } catch (...) {
                auto* sink = sink_;
                stop();
                sink->fail(std::current_exception());
                return;
            }
            if (!message) {
                arm(); // take() registered the wakeup: a message for the channel notifies it
                return;
            }
            sink_->put_message(std::move(*message));
        }
    }

    void arm() {
        if (armed_ || sink_ == nullptr) {
            return;
        }
        // The channel may complete the wait inline, under its lock and the Wakeup's: the
        // handler only posts the drain.
        armed_ = wakeup_->async_wait([self = shared_from_this()](boost::system::error_code) {
            net::post(self->ex_, [self] {
                self->armed_ = false;
                self->drain();
            });
        });
    }

    std::shared_ptr<InMemoryLayerState> state_;
    std::string channel_;
    net::any_io_executor ex_;
    MessageSink* sink_;
    std::shared_ptr<Wakeup> wakeup_;
    bool armed_ = false;
};

awaitable<std::string> new_channel_op(std::shared_ptr<InMemoryLayerState> state,
                                      std::string prefix) {
    co_return state->new_channel(prefix);
}

awaitable<void> group_add_op(std::shared_ptr<InMemoryLayerState> state, std::string group,
                             std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    state->group_add(group, channel);
    co_return;
}

awaitable<void> group_discard_op(std::shared_ptr<InMemoryLayerState> state, std::string group,
                                 std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    state->group_discard(group, channel);
    co_return;
}

// Backpressure: while members are full, the sender waits (woken each time one of them has
// room), up to backpressure_timeout; those still full are then given up and told.
awaitable<void> wait_for_room(std::shared_ptr<InMemoryLayerState> state,
                              std::vector<std::string> full, Message message) {
    auto ex = co_await net::this_coro::executor;
    auto const cancellation = co_await net::this_coro::cancellation_state;
    auto waiter = std::make_shared<Wakeup>(ex);
    struct Retire {
        std::shared_ptr<Wakeup> w;
        ~Retire() { w->retire(); }
    } retire{waiter};
    net::steady_timer deadline(ex, state->settings.backpressure_timeout);
    deadline.async_wait([waiter](boost::system::error_code ec) {
        if (!ec) {
            waiter->notify();
        }
    });
    for (;;) {
        full = state->offer_each(full, message, waiter);
        if (full.empty()) {
            break;
        }
        if (deadline.expiry() <= net::steady_timer::clock_type::now()) {
            state->overflow(full);
            break;
        }
        co_await waiter->wait();
        if (cancellation.cancelled() != net::cancellation_type::none) {
            // The sender gave up (its caller cancelled): the members still full are not
            // given up for that, and the caller learns that the send did not complete.
            throw_aborted();
        }
    }
    deadline.cancel();
}

awaitable<void> group_send_op(std::shared_ptr<InMemoryLayerState> state, std::string group,
                              Message message) {
    ChannelLayer::require_valid_group_name(group);
    std::vector<std::shared_ptr<Wakeup>> receivers;
    auto full = state->group_send(group, message, receivers);
    if (!receivers.empty()) {
        auto ex = co_await net::this_coro::executor;
        WakeBatch::of_this_thread()->add(ex, receivers);
    }
    if (!full.empty()) {
        co_await wait_for_room(state, std::move(full), std::move(message));
    }
}

awaitable<void> flush_op(std::shared_ptr<InMemoryLayerState> state) {
    state->flush();
    co_return;
}

} // namespace

std::shared_ptr<InMemoryLayerState> make_local_channels(LayerSettings settings) {
    return std::make_shared<InMemoryLayerState>(settings);
}

bool offer_local(InMemoryLayerState& state, std::string const& channel, Message message) {
    return state.offer(channel, std::move(message));
}

awaitable<void> offer_local_waiting(std::shared_ptr<InMemoryLayerState> state,
                                    std::vector<std::string> channels, Message message) {
    auto full = state->offer_each(channels, message, nullptr);
    if (!full.empty()) {
        co_await wait_for_room(std::move(state), std::move(full), std::move(message));
    }
}

void overflow_local(InMemoryLayerState& state, std::string const& channel) {
    std::vector<std::string> channels{channel};
    state.overflow(channels);
}

awaitable<Message> receive_local(std::shared_ptr<InMemoryLayerState> state, std::string channel) {
    return receive_op(std::move(state), std::move(channel));
}

awaitable<std::optional<Message>>
receive_local_until_cancelled(std::shared_ptr<InMemoryLayerState> state, std::string channel) {
    return receive_until_cancelled_op(std::move(state), std::move(channel));
}

std::shared_ptr<ChannelReceiver> attach_local_receiver(std::shared_ptr<InMemoryLayerState> state,
                                                       std::string const& channel,
                                                       net::any_io_executor ex,
                                                       MessageSink* sink) {
    ChannelLayer::require_valid_channel_name(channel);
    auto receiver = std::make_shared<LocalReceiver>(std::move(state), channel, std::move(ex), sink);
    receiver->start();
    return receiver;
}

void flush_local(InMemoryLayerState& state) { state.flush(); }

std::size_t local_dropped(InMemoryLayerState const& state) noexcept {
    return state.dropped.load(std::memory_order_relaxed);
}

} // namespace detail

struct InMemoryChannelLayer::Impl final : detail::InMemoryLayerState {
    using InMemoryLayerState::InMemoryLayerState;
    detail::LocalPresence presence;
};

InMemoryChannelLayer::InMemoryChannelLayer(LayerSettings settings)
    : impl_(std::make_shared<Impl>(settings)) {}

InMemoryChannelLayer::~InMemoryChannelLayer() = default;

awaitable<void> InMemoryChannelLayer::send(std::string channel, Message message) {
    return detail::send_op(impl_, std::move(channel), std::move(message));
}

awaitable<Message> InMemoryChannelLayer::receive(std::string channel) {
    return detail::receive_op(impl_, std::move(channel));
}

awaitable<std::optional<Message>> InMemoryChannelLayer::receive_until_cancelled(std::string channel) {
    return detail::receive_until_cancelled_op(impl_, std::move(channel));
}

std::shared_ptr<detail::ChannelReceiver>
InMemoryChannelLayer::attach_receiver(std::string const& channel, net::any_io_executor ex,
                                      detail::MessageSink* sink) {
    return detail::attach_local_receiver(impl_, channel, std::move(ex), sink);
}

awaitable<std::string> InMemoryChannelLayer::new_channel(std::string prefix) {
    return detail::new_channel_op(impl_, std::move(prefix));
}

awaitable<void> InMemoryChannelLayer::group_add(std::string group, std::string channel) {
    return detail::group_add_op(impl_, std::move(group), std::move(channel));
}

awaitable<void> InMemoryChannelLayer::group_discard(std::string group, std::string channel) {
    return detail::group_discard_op(impl_, std::move(group), std::move(channel));
}

awaitable<void> InMemoryChannelLayer::group_send(std::string group, Message message) {
    return timed_group_send(detail::group_send_op(impl_, std::move(group), std::move(message)));
}

awaitable<void> InMemoryChannelLayer::flush() {
    impl_->presence.clear();
    return detail::flush_op(impl_);
}

awaitable<void> InMemoryChannelLayer::presence_track(std::string group, std::string channel,
                                                     boost::json::object meta) {
    detail::check_presence(group, channel, meta);
    impl_->presence.track(group, channel, meta);
    boost::json::object joins;
    joins[channel] = std::move(meta);
    auto diff = detail::presence_diff(group, std::move(joins), boost::json::object());
    co_await group_send(std::move(group), std::move(diff));
}

awaitable<void> InMemoryChannelLayer::presence_untrack(std::string group, std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    auto meta = impl_->presence.untrack(group, channel);
    if (!meta) {
        co_return;
    }
    boost::json::object leaves;
    leaves[channel] = std::move(*meta);
    auto diff = detail::presence_diff(group, boost::json::object(), std::move(leaves));
    co_await group_send(std::move(group), std::move(diff));
}

awaitable<std::vector<PresenceEntry>> InMemoryChannelLayer::group_members(std::string group) {
    ChannelLayer::require_valid_group_name(group);
    co_return impl_->presence.members(group);
}

std::size_t InMemoryChannelLayer::dropped_count() const noexcept {
    return impl_->dropped.load(std::memory_order_relaxed);
}

LayerSettings const& InMemoryChannelLayer::settings() const noexcept { return impl_->settings; }

} // namespace canal
