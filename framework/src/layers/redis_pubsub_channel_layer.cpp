// RedisPubSubChannelLayer: channels_redis 4's pub/sub layer over canal's Redis client and
// Subscriber; pushed messages go to the process-local channels of local_channels.hpp.
#include <canal/layers/redis_pubsub_channel_layer.hpp>

#include "detail/crypto.hpp"
#include "detail/log.hpp"
#include "layers/local_channels.hpp"
#include "layers/on_layer.hpp"
#include "layers/redis_presence.hpp"
#include "layers/redis_stats.hpp"
#include "layers/redis_wire.hpp"
#include "redis/subscriber.hpp"

#include <canal/core/errors.hpp>
#include <canal/redis/client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

namespace canal {

namespace {

using redis::Command;

constexpr std::size_t max_prefix_length = 40;

RedisPubSubLayerSettings checked(RedisPubSubLayerSettings s) {
    if (s.hosts.empty()) {
        throw std::invalid_argument("RedisPubSubLayerSettings::hosts is empty: give at least one "
                                    "redis://host:port URL");
    }
    if (s.capacity == 0) {
        throw std::invalid_argument("RedisPubSubLayerSettings::capacity must be at least 1");
    }
    if (s.prefix.empty() || s.prefix.size() > max_prefix_length ||
        s.prefix.find_first_of(" \t\r\n*?[]") != std::string::npos) {
        throw std::invalid_argument("RedisPubSubLayerSettings::prefix '" + s.prefix +
                                    "' is invalid: 1 to 40 characters, no spaces or glob "
                                    "characters");
    }
    if (s.presence_ttl < std::chrono::milliseconds(100)) {
        throw std::invalid_argument("LayerSettings::presence_ttl must be at least 100 ms");
    }
    return s;
}

// channels_redis.pubsub publishes `msgpack.packb(message)`: the core layer's encoding without
// its 12 random bytes (equal messages need not stay apart: nothing stores them).
constexpr std::size_t core_prefix_size = 12;

std::string encode_plain(Message const& message, std::mt19937_64& rng) {
    auto payload = detail::encode_payload(message.object(), detail::AsgiChannel{}, rng);
    return payload.substr(core_prefix_size);
}

Message decode_plain(std::string const& payload) {
    if (payload.empty()) {
        throw Error("empty payload");
    }
    std::string framed(core_prefix_size, '\0');
    framed += payload;
    return Message(std::move(detail::decode_payload(framed).message));
}

} // namespace

namespace detail {

/** What the layer's coroutines share; lives on the layer's own I/O thread. */
struct PubSubLayerState : std::enable_shared_from_this<PubSubLayerState> {
    PubSubLayerState(net::any_io_executor executor, RedisPubSubLayerSettings s)
        : settings(checked(std::move(s))), ex(std::move(executor)),
          local(make_local_channels(settings)), rng(std::random_device{}()) {
        options.connect_timeout = settings.connect_timeout;
        options.command_timeout = settings.command_timeout;
        for (auto const& host : settings.hosts) {
            urls.push_back(redis::Url::parse(host));
        }
    }

    RedisPubSubLayerSettings const settings;
    net::any_io_executor ex;
    std::shared_ptr<LocalChannels> local;

    // Below: touched on the layer's thread only (except the atomics and `channels`).
    std::mt19937_64 rng;
    redis::ClientOptions options;
    std::vector<redis::Url> urls;
    std::vector<std::unique_ptr<redis::Client>> publishers;
    std::vector<std::unique_ptr<redis::detail::Subscriber>> subscribers;
    // Group pub/sub channel -> this process's member channels.
    std::map<std::string, std::set<std::string>> groups;
    // Presence (group_members() and its diffs, published to the group), made by start().
    std::shared_ptr<RedisPresence> presence;
    bool stopping = false;

    // This process's channels (subscribed or being subscribed); read by callers' threads.
    mutable std::mutex channels_mutex;
    std::set<std::string> channels;

    std::atomic<std::uint64_t> received{0};
    std::atomic<std::uint64_t> malformed{0};
    std::atomic<std::uint64_t> overflow_reports{0};

    [[nodiscard]] std::size_t shards() const { return urls.size(); }
    [[nodiscard]] std::size_t shard_of(std::string_view name) const {
        return consistent_hash(name, shards());
    }
    [[nodiscard]] std::string group_channel(std::string_view group) const {
        return settings.prefix + "__group__" + std::string(group);
    }

    bool is_local(std::string const& channel) const {
        std::lock_guard lock(channels_mutex);
        return channels.contains(channel);
    }

    // Builds the connections (on the layer's thread: the subscribers are not thread-safe).
    void start() {
        for (auto const& url : urls) {
            publishers.push_back(std::make_unique<redis::Client>(ex, url, options));
            std::weak_ptr<PubSubLayerState> weak = shared_from_this();
            redis::detail::Subscriber::Handler handler = [weak](std::string const& channel,
                                                                std::string const& payload) {
                if (auto self = weak.lock()) {
                    self->dispatch(channel, payload);
                }
            };
            subscribers.push_back(
                std::make_unique<redis::detail::Subscriber>(ex, url, options, std::move(handler)));
        }
        start_presence();
    }

    // Presence in the same keys and scripts as RedisChannelLayer's (redis_presence.cpp) on
    // the publishers' connections; its diffs are published to the group like any message.
    void start_presence() {
        std::weak_ptr<PubSubLayerState> weak = shared_from_this();
        RedisPresence::Hooks hooks;
        auto const n = shards();
        hooks.shards = n;
        hooks.shard_of = [n](std::string_view group) { return consistent_hash(group, n); };
        hooks.client = [weak](std::size_t shard) { return presence_client(weak, shard); };
        hooks.group_send = [weak](std::string group, Message message) {
            return presence_group_send(weak, std::move(group), std::move(message));
        };
        presence = std::make_shared<RedisPresence>(settings.prefix, settings.presence_ttl,
                                                   std::move(hooks));
        net::co_spawn(ex, RedisPresence::run(presence), [](std::exception_ptr e) {
            log_exception("redis pubsub layer presence", e);
        });
    }

    static awaitable<redis::Client*> presence_client(std::weak_ptr<PubSubLayerState> weak,
                                                     std::size_t shard) {
        auto self = weak.lock();
        if (!self || self->stopping) {
            throw Error("redis pubsub layer: stopped");
        }
        co_return co_await self->publisher(shard);
    }

    static awaitable<void> presence_group_send(std::weak_ptr<PubSubLayerState> weak,
                                               std::string group, Message message) {
        auto self = weak.lock();
        if (!self || self->stopping) {
            co_return;
        }
        co_await group_send_op(self, std::move(group), std::move(message));
    }

    void stop() {
        stopping = true;
        if (presence) {
            presence->stop();
        }
        for (auto& p : publishers) {
            p->close();
        }
        for (auto& s : subscribers) {
            s->close();
        }
    }

    // A message pushed by Redis: to the local channel it names, or to the group's members.
    void dispatch(std::string const& name, std::string const& payload) {
        std::vector<std::string> targets;
        if (is_local(name)) {
            targets.push_back(name);
        }
        if (auto g = groups.find(name); g != groups.end()) {
            for (auto const& member : g->second) {
                if (is_local(member)) {
                    targets.push_back(member);
                }
            }
        }
        if (targets.empty()) {
            return; // unsubscribed meanwhile
        }
        std::optional<Message> message;
        try {
            message = decode_plain(payload);
        } catch (std::exception const& e) {
            if (malformed.fetch_add(1, std::memory_order_relaxed) < 10) {
                log_warning("redis pubsub layer: skipped a message on '" + name.substr(0, 120) +
                            "': " + e.what());
            }
            return;
        }
        for (auto const& channel : targets) {
            received.fetch_add(1, std::memory_order_relaxed);
            if (!offer_local(*local, channel, *message)) {
                // Pub/sub cannot hold the sender back: the receiver is told instead.
                overflow_local(*local, channel);
                if (overflow_reports.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
                    log_warning("redis pubsub layer: channel '" + channel +
                                "' is full; a message for it was dropped and its receiver "
                                "is told (counted in dropped_count())");
                }
            }
        }
    }

    // Forgets a channel of this process: leaves its groups and unsubscribes.
    void forget(std::string const& channel) {
        {
            std::lock_guard lock(channels_mutex);
            if (channels.erase(channel) == 0) {
                return;
            }
        }
        for (auto it = groups.begin(); it != groups.end();) {
            it->second.erase(channel);
            if (it->second.empty()) {
                subscribers[shard_of(it->first)]->unsubscribe(it->first);
                it = groups.erase(it);
            } else {
                ++it;
            }
        }
        subscribers[shard_of(channel)]->unsubscribe(channel);
    }

    awaitable<redis::Client*> publisher(std::size_t shard) {
        auto* c = publishers[shard].get();
        if (!c->connected()) {
            co_await c->connect();
        }
        co_return c;
    }

    // ---- operations (run on the layer's thread) ----

    // Makes `channel` one of this process's channels, subscribed before this returns.
    static awaitable<void> ensure_local_op(std::shared_ptr<PubSubLayerState> self,
                                           std::string channel) {
        {
            std::lock_guard lock(self->channels_mutex);
            if (!self->channels.insert(channel).second) {
                co_return;
            }
        }
        std::exception_ptr failure;
        try {
            co_await self->subscribers[self->shard_of(channel)]->subscribe(channel);
        } catch (...) {
            failure = std::current_exception();
        }
        if (failure) {
            std::lock_guard lock(self->channels_mutex);
            self->channels.erase(channel);
        }
        if (failure) {
            std::rethrow_exception(failure);
        }
    }

    static awaitable<void> send_op(std::shared_ptr<PubSubLayerState> self, std::string channel,
                                   Message message) {
        auto payload = encode_plain(message, self->rng);
        auto* c = co_await self->publisher(self->shard_of(channel));
        Command publish{"PUBLISH", std::move(channel), std::move(payload)};
        co_await c->command(std::move(publish));
    }

    static awaitable<std::string> new_channel_op(std::shared_ptr<PubSubLayerState> self,
                                                 std::string prefix) {
        auto name = prefix + ".!" + to_hex(detail::random_bytes_cached(16));
        co_await ensure_local_op(self, name);
        co_return name;
    }

    static awaitable<void> group_add_op(std::shared_ptr<PubSubLayerState> self, std::string group,
                                        std::string channel) {
        co_await ensure_local_op(self, channel);
        auto const gc = self->group_channel(group);
        self->groups[gc].insert(channel);
        std::exception_ptr failure;
        try {
            co_await self->subscribers[self->shard_of(gc)]->subscribe(gc);
        } catch (...) {
            failure = std::current_exception();
        }
        if (failure) {
            auto it = self->groups.find(gc);
            if (it != self->groups.end()) {
                it->second.erase(channel);
                if (it->second.empty()) {
                    self->groups.erase(it);
                }
            }
            std::rethrow_exception(failure);
        }
    }

    static awaitable<void> group_discard_op(std::shared_ptr<PubSubLayerState> self,
                                            std::string group, std::string channel) {
        auto const gc = self->group_channel(group);
        auto it = self->groups.find(gc);
        if (it == self->groups.end() || it->second.erase(channel) == 0) {
            co_return;
        }
        if (it->second.empty()) {
            self->groups.erase(it);
            self->subscribers[self->shard_of(gc)]->unsubscribe(gc);
        }
    }

    static awaitable<void> group_send_op(std::shared_ptr<PubSubLayerState> self, std::string group,
                                         Message message) {
        auto gc = self->group_channel(group);
        auto payload = encode_plain(message, self->rng);
        auto* c = co_await self->publisher(self->shard_of(gc));
        Command publish{"PUBLISH", std::move(gc), std::move(payload)};
        co_await c->command(std::move(publish));
    }

    static awaitable<void> flush_op(std::shared_ptr<PubSubLayerState> self) {
        for (auto const& [gc, members] : self->groups) {
            self->subscribers[self->shard_of(gc)]->unsubscribe(gc);
        }
        self->groups.clear();
        flush_local(*self->local);
        if (self->presence) {
            co_await RedisPresence::erase_all(self->presence);
        }
    }

    static awaitable<void> forget_op(std::shared_ptr<PubSubLayerState> self, std::string channel) {
        self->forget(channel);
        co_return;
    }

    static awaitable<void> connect_all(std::shared_ptr<PubSubLayerState> self) {
        for (std::size_t shard = 0; shard < self->shards(); ++shard) {
            co_await self->publishers[shard]->connect();
            Command ping{"PING"};
            co_await self->publishers[shard]->command(std::move(ping));
            co_await self->subscribers[shard]->connect();
        }
    }
};

namespace {

// A local channel's callback receiver that also unsubscribes the channel when it stops
// (the consumer is gone): what channels_redis does when a receive() is cancelled.
class PubSubReceiver final : public ChannelReceiver {
public:
    PubSubReceiver(std::shared_ptr<ChannelReceiver> inner, std::weak_ptr<PubSubLayerState> state,
                   std::string channel)
        : inner_(std::move(inner)), state_(std::move(state)), channel_(std::move(channel)) {}
    PubSubReceiver(PubSubReceiver const&) = delete;
    PubSubReceiver& operator=(PubSubReceiver const&) = delete;
    ~PubSubReceiver() override { stop(); }

    void start() override { inner_->start(); }
    void resume() override { inner_->resume(); }
    void stop() override {
        if (stopped_) {
            return;
        }
        stopped_ = true;
        inner_->stop();
        if (auto s = state_.lock()) {
            auto op = PubSubLayerState::forget_op(s, channel_);
            net::co_spawn(s->ex, std::move(op), [](std::exception_ptr ep) {
                log_exception("redis pubsub layer: unsubscribing a channel", ep);
            });
        }
    }

private:
    std::shared_ptr<ChannelReceiver> inner_;
    std::weak_ptr<PubSubLayerState> state_;
    std::string channel_;
    bool stopped_ = false;
};

} // namespace

} // namespace detail

struct RedisPubSubChannelLayer::Impl {
    explicit Impl(RedisPubSubLayerSettings s) {
        state = std::make_shared<detail::PubSubLayerState>(ctx.get_executor(), std::move(s));
        state->start();
        thread = std::thread([this] { ctx.run(); });
    }
    Impl(Impl const&) = delete;
    Impl& operator=(Impl const&) = delete;
    ~Impl() {
        auto s = state;
        net::post(ctx, [s] { s->stop(); });
        work.reset();
        thread.join();
        state.reset();
    }

    net::io_context ctx{1};
    net::executor_work_guard<net::io_context::executor_type> work{ctx.get_executor()};
    std::shared_ptr<detail::PubSubLayerState> state;
    std::thread thread;
};

RedisPubSubChannelLayer::RedisPubSubChannelLayer(RedisPubSubLayerSettings settings)
    : impl_(std::make_shared<Impl>(std::move(settings))) {}

RedisPubSubChannelLayer::~RedisPubSubChannelLayer() = default;

bool RedisPubSubChannelLayer::settle(std::chrono::milliseconds limit) {
    if (std::this_thread::get_id() == impl_->thread.get_id()) {
        throw Error("RedisPubSubChannelLayer::settle() called on the layer's own thread");
    }
    // One thread runs the layer: once this runs, every post it began before has returned.
    auto reached = std::make_shared<std::promise<void>>();
    auto future = reached->get_future();
    net::post(impl_->ctx, [reached] { reached->set_value(); });
    return future.wait_for(limit) == std::future_status::ready;
}

void RedisPubSubChannelLayer::wait_connected() {
    auto const& s = impl_->state;
    if (std::this_thread::get_id() == impl_->thread.get_id()) {
        throw Error("RedisPubSubChannelLayer::wait_connected() called on the layer's own thread");
    }
    auto op = detail::PubSubLayerState::connect_all(s);
    auto done = net::co_spawn(s->ex, std::move(op), net::use_future);
    done.get();
}

awaitable<void> RedisPubSubChannelLayer::send(std::string channel, Message message) {
    ChannelLayer::require_valid_channel_name(channel);
    auto op =
        detail::PubSubLayerState::send_op(impl_->state, std::move(channel), std::move(message));
    return detail::on_layer(impl_->state->ex, std::move(op));
}

awaitable<Message> RedisPubSubChannelLayer::receive(std::string channel) {
    ChannelLayer::require_valid_channel_name(channel);
    auto s = impl_->state;
    if (!s->is_local(channel)) {
        auto op = detail::PubSubLayerState::ensure_local_op(s, channel);
        co_await detail::on_layer(s->ex, std::move(op));
        auto const cancellation = co_await net::this_coro::cancellation_state;
        if (cancellation.cancelled() != net::cancellation_type::none) {
            throw boost::system::system_error(net::error::operation_aborted);
        }
    }
    co_return co_await detail::receive_local(s->local, std::move(channel));
}

awaitable<std::optional<Message>>
RedisPubSubChannelLayer::receive_until_cancelled(std::string channel) {
    ChannelLayer::require_valid_channel_name(channel);
    auto s = impl_->state;
    if (!s->is_local(channel)) {
        auto op = detail::PubSubLayerState::ensure_local_op(s, channel);
        co_await detail::on_layer(s->ex, std::move(op));
        // Subscribing is not cancellable: a cancellation meanwhile ends the wait here.
        auto const cancellation = co_await net::this_coro::cancellation_state;
        if (cancellation.cancelled() != net::cancellation_type::none) {
            co_return std::nullopt;
        }
    }
    co_return co_await detail::receive_local_until_cancelled(s->local, std::move(channel));
}

std::shared_ptr<detail::ChannelReceiver>
RedisPubSubChannelLayer::attach_receiver(std::string const& channel, net::any_io_executor ex,
                                         detail::MessageSink* sink) {
    auto const& s = impl_->state;
    if (!ChannelLayer::is_valid_channel_name(channel) || !s->is_local(channel)) {
        return nullptr; // the consumer loops on receive_until_cancelled(), which subscribes
    }
    auto inner = detail::attach_local_receiver(s->local, channel, std::move(ex), sink);
    std::weak_ptr<detail::PubSubLayerState> weak = s;
    return std::make_shared<detail::PubSubReceiver>(std::move(inner), std::move(weak), channel);
}

awaitable<std::string> RedisPubSubChannelLayer::new_channel(std::string prefix) {
    if (prefix.size() > max_prefix_length || !ChannelLayer::is_valid_group_name(prefix)) {
        throw InvalidName("channel prefix '" + prefix.substr(0, 120) +
                          "' is invalid: only ASCII letters, digits, '-', '_' and '.' are "
                          "allowed, at most " +
                          std::to_string(max_prefix_length) + " characters");
    }
    auto op = detail::PubSubLayerState::new_channel_op(impl_->state, std::move(prefix));
    return detail::on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisPubSubChannelLayer::group_add(std::string group, std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    auto op =
        detail::PubSubLayerState::group_add_op(impl_->state, std::move(group), std::move(channel));
    return detail::on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisPubSubChannelLayer::group_discard(std::string group, std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    auto op = detail::PubSubLayerState::group_discard_op(impl_->state, std::move(group),
                                                         std::move(channel));
    return detail::on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisPubSubChannelLayer::group_send(std::string group, Message message) {
    ChannelLayer::require_valid_group_name(group);
    auto op =
        detail::PubSubLayerState::group_send_op(impl_->state, std::move(group), std::move(message));
    return timed_group_send(detail::on_layer(impl_->state->ex, std::move(op)));
}

awaitable<void> RedisPubSubChannelLayer::presence_track(std::string group, std::string channel,
                                                        boost::json::object meta) {
    return detail::presence_track_on(impl_->state->ex, impl_->state->presence, std::move(group),
                                     std::move(channel), std::move(meta));
}

awaitable<void> RedisPubSubChannelLayer::presence_untrack(std::string group, std::string channel) {
    return detail::presence_untrack_on(impl_->state->ex, impl_->state->presence, std::move(group),
                                       std::move(channel));
}

awaitable<std::vector<PresenceEntry>> RedisPubSubChannelLayer::group_members(std::string group) {
    return detail::group_members_on(impl_->state->ex, impl_->state->presence, std::move(group));
}

awaitable<void> RedisPubSubChannelLayer::flush() {
    auto op = detail::PubSubLayerState::flush_op(impl_->state);
    return detail::on_layer(impl_->state->ex, std::move(op));
}

LayerStats RedisPubSubChannelLayer::layer_stats() const {
    auto out = ChannelLayer::layer_stats();
    auto const& s = *impl_->state;
    for (auto const& c : s.publishers) {
        detail::add_connection_stats(out, *c);
    }
    for (std::size_t i = 0; i < s.subscribers.size(); ++i) {
        if (!s.subscribers[i]->connected() && s.publishers[i]->connected()) {
            out.reachable = false;
            out.unreachable += (out.unreachable.empty() ? "" : ", ") +
                               s.publishers[i]->url().redacted() + " (subscriber)";
        }
    }
    return out;
}

std::size_t RedisPubSubChannelLayer::dropped_count() const noexcept {
    return detail::local_dropped(*impl_->state->local);
}

RedisPubSubLayerStats RedisPubSubChannelLayer::stats() const noexcept {
    auto const& s = *impl_->state;
    RedisPubSubLayerStats out;
    out.received = s.received.load(std::memory_order_relaxed);
    out.malformed = s.malformed.load(std::memory_order_relaxed);
    return out;
}

RedisPubSubLayerSettings const& RedisPubSubChannelLayer::settings() const noexcept {
    return impl_->state->settings;
}

} // namespace canal
