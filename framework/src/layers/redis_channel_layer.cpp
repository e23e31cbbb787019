// RedisChannelLayer's façade: validates the caller's arguments and runs each operation on
// the layer's own thread (the state and operations: redis_layer_state.hpp).
#include <canal/layers/redis_channel_layer.hpp>

#include "layers/local_channels.hpp"
#include "layers/on_layer.hpp"
#include "layers/redis_layer_state.hpp"
#include "layers/redis_stats.hpp"

#include <canal/core/errors.hpp>
#include <canal/redis/client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <future>
#include <thread>

namespace canal {

struct RedisChannelLayer::Impl {
    explicit Impl(RedisLayerSettings s) {
        state = std::make_shared<detail::RedisLayerState>(ctx.get_executor(), std::move(s));
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
    std::shared_ptr<detail::RedisLayerState> state;
    std::thread thread;
};

RedisChannelLayer::RedisChannelLayer(RedisLayerSettings settings)
    : impl_(std::make_shared<Impl>(std::move(settings))) {}

RedisChannelLayer::~RedisChannelLayer() = default;

bool RedisChannelLayer::settle(std::chrono::milliseconds limit) {
    if (std::this_thread::get_id() == impl_->thread.get_id()) {
        throw Error("RedisChannelLayer::settle() called on the layer's own thread");
    }
    // One thread runs the layer: once the pipeline is idle and this runs, every post it
    // began before has returned.
    auto reached = std::make_shared<std::promise<void>>();
    auto future = reached->get_future();
    auto idle = detail::RedisLayerState::pipeline_idle(impl_->state);
    net::co_spawn(impl_->ctx, std::move(idle), [ctx = &impl_->ctx, reached](std::exception_ptr) {
        net::post(*ctx, [reached] { reached->set_value(); });
    });
    return future.wait_for(limit) == std::future_status::ready;
}

void RedisChannelLayer::wait_connected() {
    auto const& s = impl_->state;
    if (std::this_thread::get_id() == impl_->thread.get_id()) {
        throw Error("RedisChannelLayer::wait_connected() called on the layer's own thread");
    }
    auto op = detail::RedisLayerState::connect_all(s);
    auto done = net::co_spawn(s->ex, std::move(op), net::use_future);
    done.get();
}

awaitable<void> RedisChannelLayer::send(std::string channel, Message message) {
    ChannelLayer::require_valid_channel_name(channel);
    auto op =
        detail::RedisLayerState::send_op(impl_->state, std::move(channel), std::move(message));
    return detail::on_layer(impl_->state->ex, std::move(op));
}

awaitable<Message> RedisChannelLayer::receive(std::string channel) {
    ChannelLayer::require_valid_channel_name(channel);
    auto const& s = impl_->state;
    if (channel.find('!') != std::string::npos) {
        if (!s->is_ours(channel)) {
            throw Error("channel '" + channel +
                        "' is process-specific and belongs to another process: only the "
                        "process that created it with new_channel() can receive on it");
        }
        return detail::receive_local(s->local, std::move(channel));
    }
    auto op = detail::RedisLayerState::receive_normal_op(s, std::move(channel));
    return detail::on_layer(s->ex, std::move(op));
}

awaitable<std::optional<Message>> RedisChannelLayer::receive_until_cancelled(std::string channel) {
    auto const& s = impl_->state;
    if (channel.find('!') != std::string::npos && s->is_ours(channel) &&
        ChannelLayer::is_valid_channel_name(channel)) {
        return detail::receive_local_until_cancelled(s->local, std::move(channel));
    }
    return ChannelLayer::receive_until_cancelled(std::move(channel));
}

std::shared_ptr<detail::ChannelReceiver>
RedisChannelLayer::attach_receiver(std::string const& channel, net::any_io_executor ex,
                                   detail::MessageSink* sink) {
    auto const& s = impl_->state;
    if (channel.find('!') != std::string::npos && s->is_ours(channel) &&
        ChannelLayer::is_valid_channel_name(channel)) {
        return detail::attach_local_receiver(s->local, channel, std::move(ex), sink);
    }
    return nullptr;
}

awaitable<std::string> RedisChannelLayer::new_channel(std::string prefix) {
    if (prefix.size() > detail::max_prefix_length || !ChannelLayer::is_valid_group_name(prefix)) {
        throw InvalidName("channel prefix '" + prefix.substr(0, 120) +
                          "' is invalid: only ASCII letters, digits, '-', '_' and '.' are "
                          "allowed, at most " +
                          std::to_string(detail::max_prefix_length) + " characters");
    }
    auto op = detail::RedisLayerState::new_channel_op(impl_->state, std::move(prefix));
    return detail::on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisChannelLayer::group_add(std::string group, std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    auto op =
        detail::RedisLayerState::group_add_op(impl_->state, std::move(group), std::move(channel));
    return detail::on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisChannelLayer::group_discard(std::string group, std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    auto op = detail::RedisLayerState::group_discard_op(impl_->state, std::move(group),
                                                        std::move(channel));
    return detail::on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisChannelLayer::group_send(std::string group, Message message) {
    ChannelLayer::require_valid_group_name(group);
    auto op =
        detail::RedisLayerState::group_send_op(impl_->state, std::move(group), std::move(message));
    return timed_group_send(detail::on_layer(impl_->state->ex, std::move(op)));
}

awaitable<void> RedisChannelLayer::presence_track(std::string group, std::string channel,
                                                  boost::json::object meta) {
    return detail::presence_track_on(impl_->state->ex, impl_->state->presence, std::move(group),
                                     std::move(channel), std::move(meta));
}

awaitable<void> RedisChannelLayer::presence_untrack(std::string group, std::string channel) {
    return detail::presence_untrack_on(impl_->state->ex, impl_->state->presence, std::move(group),
                                       std::move(channel));
}

awaitable<std::vector<PresenceEntry>> RedisChannelLayer::group_members(std::string group) {
    return detail::group_members_on(impl_->state->ex, impl_->state->presence, std::move(group));
}

awaitable<void> RedisChannelLayer::flush() {
    auto op = detail::RedisLayerState::flush_op(impl_->state);
    return detail::on_layer(impl_->state->ex, std::move(op));
}

LayerStats RedisChannelLayer::layer_stats() const {
    auto out = ChannelLayer::layer_stats();
    auto const& s = *impl_->state;
    for (auto const& shard : s.shards) {
        detail::add_connection_stats(out, *shard.client);
    }
    return out;
}

std::size_t RedisChannelLayer::dropped_count() const noexcept {
    auto const& s = *impl_->state;
    return static_cast<std::size_t>(s.dropped_over_capacity.load(std::memory_order_relaxed) +
                                    detail::local_dropped(*s.local));
}

RedisLayerStats RedisChannelLayer::stats() const noexcept {
    auto const& s = *impl_->state;
    RedisLayerStats out;
    for (auto const& shard : s.shards) {
        out.round_trips += shard.client->round_trips();
    }
    out.group_sends = s.group_sends.load(std::memory_order_relaxed);
    out.dropped_over_capacity = s.dropped_over_capacity.load(std::memory_order_relaxed);
    out.group_sends_failed = s.group_sends_failed.load(std::memory_order_relaxed);
    out.dropped_local_full = detail::local_dropped(*s.local);
    out.received = s.received.load(std::memory_order_relaxed);
    out.malformed = s.malformed.load(std::memory_order_relaxed);
    out.undecryptable = s.undecryptable.load(std::memory_order_relaxed);
    return out;
}

RedisLayerSettings const& RedisChannelLayer::settings() const noexcept {
    return impl_->state->settings;
}

} // namespace canal
