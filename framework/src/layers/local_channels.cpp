// Process-local channel queues (see local_channels.hpp).
#include "layers/local_channels.hpp"

#include <canal/core/errors.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

namespace canal::detail {

namespace {

void add_waiter(ChannelQueue& queue, std::shared_ptr<Wakeup> const& waiter) {
    if (std::find(queue.space_waiters.begin(), queue.space_waiters.end(), waiter) ==
        queue.space_waiters.end()) {
        queue.space_waiters.push_back(waiter);
    }
}

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

LocalChannels::LocalChannels(LayerSettings s)
    : settings(checked(s)), sweep_interval_(std::max<Clock::duration>(
                                std::min(s.expiry, s.group_expiry), std::chrono::milliseconds(10))),
      next_sweep_(Clock::now() + sweep_interval_),
      capacities_(settings.channel_capacity, settings.capacity) {}

void LocalChannels::send(std::string const& channel, Message message) {
    if (!offer(channel, std::move(message))) {
        throw ChannelFull("channel '" + channel + "' is full (capacity " +
                          std::to_string(capacities_.capacity(channel)) + ")");
    }
}

bool LocalChannels::offer(std::string const& channel, Message message) {
    std::shared_ptr<Wakeup> receiver;
    {
        std::lock_guard lock(mutex_);
        auto const now = Clock::now();
        sweep_if_due(now);
        auto& queue = channels_[channel];
        if (drop_expired(queue, now)) {
            lapsed_locked(channel);
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

std::optional<Message> LocalChannels::take(std::string const& channel,
                                           std::shared_ptr<Wakeup> const& wakeup) {
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

std::vector<std::string> LocalChannels::offer_each(std::vector<std::string> const& channels,
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

void LocalChannels::overflow(std::vector<std::string> const& channels) {
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

void LocalChannels::unregister(std::string const& channel, Wakeup const* wakeup) noexcept {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(channel);
    if (it == channels_.end() || it->second.receiver.get() != wakeup) {
        return;
    }
    it->second.receiver.reset();
    if (it->second.messages.empty() && !it->second.overflowed && it->second.space_waiters.empty()) {
        channels_.erase(it);
    }
}

void LocalChannels::flush() {
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
    flushed_locked();
}

std::size_t LocalChannels::capacity_of(ChannelQueue& queue, std::string const& channel) const {
    if (queue.capacity == 0) {
        queue.capacity = capacities_.capacity(channel);
    }
    return queue.capacity;
}

std::optional<Message> LocalChannels::take_locked(std::string const& channel,
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
        lapsed_locked(channel);
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

bool LocalChannels::drop_expired(ChannelQueue& queue, Clock::time_point now) {
    // Expiry times grow along the queue (one clock, read under the lock).
    bool dropped_any = false;
    while (!queue.messages.empty() && queue.messages.front().expires <= now) {
        queue.messages.pop_front();
        dropped_any = true;
    }
    return dropped_any;
}

// Channels cleans everything on every receive; here a full pass runs at most once per
// interval, and the channels and groups an operation touches are cleaned on the spot.
void LocalChannels::sweep_if_due(Clock::time_point now) {
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
    swept_locked(now, lapsed);
}

namespace {

// Owns the wakeup of one receive() and unregisters it however the coroutine ends:
// returned, threw, or destroyed with its io_context.
class ReceiverRegistration {
public:
    ReceiverRegistration(std::shared_ptr<LocalChannels> state, std::string const& channel)
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
    std::shared_ptr<LocalChannels> state_;
    std::string channel_;
    std::shared_ptr<Wakeup> wakeup_;
};

[[noreturn]] void throw_aborted() {
    throw boost::system::system_error(net::error::operation_aborted);
}

// Nothing when cancelled (a consumer's loop ends this way at every disconnect).
awaitable<std::optional<Message>> receive_until_cancelled_op(std::shared_ptr<LocalChannels> state,
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

awaitable<Message> receive_op(std::shared_ptr<LocalChannels> state, std::string channel) {
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
    LocalReceiver(std::shared_ptr<LocalChannels> state, std::string channel,
                  net::any_io_executor ex, MessageSink* sink)
        : state_(std::move(state)), channel_(std::move(channel)),
          wakeup_(std::make_shared<Wakeup>(std::move(ex))), sink_(sink) {}

    void start() override { drain(); }

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
        // Run on this receiver's executor (posted by the notifying thread).
        armed_ = wakeup_->async_wait([self = shared_from_this()] {
            self->armed_ = false;
            self->drain();
        });
    }

    std::shared_ptr<LocalChannels> state_;
    std::string channel_;
    std::shared_ptr<Wakeup> wakeup_; // holds the executor the receiver runs on
    MessageSink* sink_;
    bool armed_ = false;
};

} // namespace

// Backpressure: while members are full, the sender waits (woken each time one of them has
// room), up to backpressure_timeout; those still full are then given up and told.
awaitable<void> wait_for_room(std::shared_ptr<LocalChannels> state, std::vector<std::string> full,
                              Message message) {
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

std::shared_ptr<LocalChannels> make_local_channels(LayerSettings settings) {
    return std::make_shared<LocalChannels>(settings);
}

bool offer_local(LocalChannels& state, std::string const& channel, Message message) {
    return state.offer(channel, std::move(message));
}

awaitable<void> offer_local_waiting(std::shared_ptr<LocalChannels> state,
                                    std::vector<std::string> channels, Message message) {
    auto full = state->offer_each(channels, message, nullptr);
    if (!full.empty()) {
        co_await wait_for_room(std::move(state), std::move(full), std::move(message));
    }
}

void overflow_local(LocalChannels& state, std::string const& channel) {
    std::vector<std::string> channels{channel};
    state.overflow(channels);
}

awaitable<Message> receive_local(std::shared_ptr<LocalChannels> state, std::string channel) {
    return receive_op(std::move(state), std::move(channel));
}

awaitable<std::optional<Message>>
receive_local_until_cancelled(std::shared_ptr<LocalChannels> state, std::string channel) {
    return receive_until_cancelled_op(std::move(state), std::move(channel));
}

std::shared_ptr<ChannelReceiver> attach_local_receiver(std::shared_ptr<LocalChannels> state,
                                                       std::string const& channel,
                                                       net::any_io_executor ex, MessageSink* sink) {
    ChannelLayer::require_valid_channel_name(channel);
    auto receiver = std::make_shared<LocalReceiver>(std::move(state), channel, std::move(ex), sink);
    receiver->start();
    return receiver;
}

void flush_local(LocalChannels& state) { state.flush(); }

std::size_t local_dropped(LocalChannels const& state) noexcept {
    return state.dropped.load(std::memory_order_relaxed);
}

} // namespace canal::detail
