// RedisPubSubChannelLayer: a channel layer over Redis pub/sub, wire-compatible with
// channels_redis 4's RedisPubSubChannelLayer.
#pragma once

#include <canal/layers/channel_layer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace canal {

/** RedisPubSubChannelLayer's configuration: channels_redis.pubsub's options. */
struct RedisPubSubLayerSettings : LayerSettings {
    /**
     * Redis servers as `redis://[:password@]host:port[/db]` URLs. Several servers are
     * shards: each channel and group lives on the one its name hashes to (channels_redis'
     * consistent hash).
     */
    std::vector<std::string> hosts{"redis://127.0.0.1:6379"};
    /** Prefix of the group pub/sub channels, `{prefix}__group__{group}` (`asgi`). */
    std::string prefix = "asgi";
    /** Time allowed to connect to each server. */
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(2);
    /** Time PUBLISH and SUBSCRIBE may wait for their reply before the connection is dropped. */
    std::chrono::milliseconds command_timeout = std::chrono::seconds(5);
};

/** Counters of a RedisPubSubChannelLayer since it was built. */
struct RedisPubSubLayerStats {
    /** Messages pushed by Redis and handed to local channels (once per channel). */
    std::uint64_t received = 0;
    /** Payloads that could not be decoded (logged, skipped). */
    std::uint64_t malformed = 0;
};

/**
 * A channel layer on Redis pub/sub, as channels_redis 4's `RedisPubSubChannelLayer`: a
 * channel is the Redis pub/sub channel of the same name, a group is the pub/sub channel
 * `{prefix}__group__{group}`, and a message is published once as a plain msgpack map.
 * Django processes using `channels_redis.pubsub.RedisPubSubChannelLayer` on the same Redis
 * and prefix exchange messages with canal consumers in both directions.
 *
 * Receiving on a channel (new_channel(), receive(), group_add()) subscribes this process to
 * it; messages pushed by Redis wait in a bounded local queue per channel (`capacity`); a
 * full queue drops the message and its receiver is told (ChannelOverflow), counted in
 * dropped_count().
 *
 * Pub/sub keeps nothing: a message published to a channel or group nobody subscribes to
 * right then is lost, and so is everything published while this process is disconnected
 * from Redis. send() never throws ChannelFull and group_send() never waits for room; there
 * is no expiry in Redis. Group membership is held by the processes that subscribed, not in
 * Redis, so it does not lapse (`group_expiry` is unused).
 *
 * When Redis is unreachable, calls fail with LayerUnavailable; the layer reconnects in the
 * background and subscribes again to every channel and group it had.
 *
 * Presence (presence_track(), group_members()) is kept in Redis keys, as the Redis layer
 * keeps it, and renewed every `presence_ttl` / 3: entries of a process that stops renewing
 * them expire and their leaves are published to the group.
 *
 * @par Thread safety
 * All member functions may be called from any thread and executor. The layer runs its Redis
 * connections on a thread of its own; callers resume on their own executor.
 */
class RedisPubSubChannelLayer final : public ChannelLayer {
public:
    /**
     * Validates the settings; connects on first use (or wait_connected()).
     *
     * @throws std::invalid_argument for a malformed URL, no hosts, a zero capacity or an
     * invalid prefix.
     */
    explicit RedisPubSubChannelLayer(RedisPubSubLayerSettings settings = {});
    /** Closes the connections; pending calls fail. */
    ~RedisPubSubChannelLayer() override;
    RedisPubSubChannelLayer(RedisPubSubChannelLayer const&) = delete;
    RedisPubSubChannelLayer& operator=(RedisPubSubChannelLayer const&) = delete;

    /**
     * Blocks until every server answers, for up to `connect_timeout` each. Not on an I/O
     * thread.
     *
     * @throws canal::Error naming Redis and the first unreachable address.
     */
    void wait_connected();

    /** PUBLISHes `message` on `channel`; lost when nobody subscribes to it. */
    awaitable<void> send(std::string channel, Message message) override;
    /**
     * Waits for the next message on `channel`, subscribing to it first when this process
     * does not yet; resumes on the caller's executor.
     *
     * @par Cancellation
     * Supports terminal cancellation (`system_error(operation_aborted)`); the channel stays
     * subscribed and no message is lost.
     */
    awaitable<Message> receive(std::string channel) override;
    awaitable<std::optional<Message>> receive_until_cancelled(std::string channel) override;
    /** For channels of this process; unsubscribes the channel when the receiver stops. */
    std::shared_ptr<detail::ChannelReceiver> attach_receiver(std::string const& channel,
                                                             net::any_io_executor ex,
                                                             detail::MessageSink* sink) override;
    /** `prefix`, `".!"` and 32 random hex digits; subscribed before it is returned. */
    awaitable<std::string> new_channel(std::string prefix = "specific") override;
    /** Subscribes to the group's pub/sub channel (and to `channel`, if not yet). */
    awaitable<void> group_add(std::string group, std::string channel) override;
    /** Unsubscribes from the group's pub/sub channel once no local channel is a member. */
    awaitable<void> group_discard(std::string group, std::string channel) override;
    /** PUBLISHes `message` once on the group's pub/sub channel. */
    awaitable<void> group_send(std::string group, Message message) override;
    /**
     * Presence across every process on these Redis servers, in the same keys as
     * RedisChannelLayer's (`PREFIX:presence:GROUP`, `PREFIX:presence-deadlines`, kept in
     * Redis even though messages are not); its `presence.diff` messages are published to
     * the group like any group message (so a member not subscribed right then misses them,
     * as it would any message).
     */
    awaitable<void> presence_track(std::string group, std::string channel,
                                   boost::json::object meta) override;
    awaitable<void> presence_untrack(std::string group, std::string channel) override;
    awaitable<std::vector<PresenceEntry>> group_members(std::string group) override;
    [[nodiscard]] bool has_presence() const noexcept override { return true; }
    /** Leaves every group and drops queued messages; this process's channels stay. */
    awaitable<void> flush() override;
    /** Messages dropped because a local channel was full. */
    [[nodiscard]] std::size_t dropped_count() const noexcept override;
    /** Its Redis connections' round trips, errors, reconnects, and which are down. */
    [[nodiscard]] LayerStats layer_stats() const override;
    /** Waits until the layer's thread has run everything queued before the call. */
    bool settle(std::chrono::milliseconds limit) override;

    /** Counters since the layer was built. */
    [[nodiscard]] RedisPubSubLayerStats stats() const noexcept;
    /** The settings the layer was built with. */
    [[nodiscard]] RedisPubSubLayerSettings const& settings() const noexcept;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace canal
