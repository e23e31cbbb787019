// InMemoryChannelLayer: the process-local channels (local_channels.hpp) with expiring
// groups on top.
#include <canal/layers/in_memory_channel_layer.hpp>

#include "detail/crypto.hpp"
#include "layers/local_channels.hpp"
#include "layers/presence.hpp"
#include "layers/wakeup.hpp"

#include <canal/core/errors.hpp>

#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <iterator>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace canal {

namespace detail {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view inmemory_marker = ".inmemory!";
constexpr std::size_t random_letters = 12;
// Channel names are under 100 characters.
constexpr std::size_t max_prefix_length = 99 - inmemory_marker.size() - random_letters;

// A group: member channel → when its membership was last renewed.
using Members = std::unordered_map<std::string, Clock::time_point>;

} // namespace

/**
 * The state of an InMemoryChannelLayer: the local channels and the groups, under the
 * channels' lock.
 */
class InMemoryLayerState : public LocalChannels {
public:
    using LocalChannels::LocalChannels;

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
            for (char byte : random_bytes_cached(random_letters)) {
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

private:
    void lapsed_locked(std::string const& channel) override { leave_all_groups(channel); }

    void swept_locked(Clock::time_point now,
                      std::unordered_set<std::string> const& lapsed) override {
        for (auto group = groups_.begin(); group != groups_.end();) {
            std::erase_if(group->second, [&](auto const& member) {
                return membership_expired(member.second, now) || lapsed.contains(member.first);
            });
            group = group->second.empty() ? groups_.erase(group) : std::next(group);
        }
    }

    void flushed_locked() override { groups_.clear(); }

    // All below: mutex_ held.

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

    std::unordered_map<std::string, Members> groups_;
};

namespace {

// The coroutines take the state by shared_ptr: a pending operation keeps it alive even
// when the InMemoryChannelLayer object goes first.

awaitable<void> send_op(std::shared_ptr<InMemoryLayerState> state, std::string channel,
                        Message message) {
    ChannelLayer::require_valid_channel_name(channel);
    state->send(channel, std::move(message));
    co_return;
}

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
    return detail::receive_local(impl_, std::move(channel));
}

awaitable<std::optional<Message>>
InMemoryChannelLayer::receive_until_cancelled(std::string channel) {
    return detail::receive_local_until_cancelled(impl_, std::move(channel));
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
