// RedisChannelLayer: a channel layer shared by many processes and machines through Redis,
// wire-compatible with channels_redis 4 (Django Channels' Redis layer).
#pragma once

#include <canal/layers/channel_layer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace canal {

/** RedisChannelLayer's configuration: channels_redis' options with their defaults. */
struct RedisLayerSettings : LayerSettings {
    /**
     * Redis servers as `redis://[:password@]host:port[/db]` URLs (`rediss://` for TLS, with
     * `?ssl_ca_certs=FILE` or `?ssl_cert_reqs=none`: canal::redis::Url). Several servers are
     * shards: groups and process-specific channels are placed by consistent hashing of
     * their names, as channels_redis does.
     */
    std::vector<std::string> hosts{"redis://127.0.0.1:6379"};
    /** Prefix of every Redis key (`asgi` in channels_redis). */
    std::string prefix = "asgi";
    /** Time allowed to connect to each server. */
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(2);
    /**
     * Time a request may wait for its reply before the connection is presumed dead. A Redis
     * that stalls for less (a slow fork, a paused process) is ridden out: layer calls wait,
     * so senders are slowed down (their reads pause) and nothing is lost or sent twice.
     * Past it, layer calls throw LayerUnavailable (websocket consumers close with 1013).
     */
    std::chrono::milliseconds command_timeout = std::chrono::seconds(15);
    /**
     * How many group_send()s may be on their way to Redis unanswered. With one server, no
     * `channel_capacity` patterns and no encryption (when group_send() is one script), a
     * group_send() returns once its script is queued on the layer's connection, behind the
     * earlier ones (Redis runs them in that order), instead of waiting for Redis's answer:
     * a consumer relaying a burst to a group sends it in one stream, and the receiving
     * processes get it in batches. When this many are unanswered, or messages wait for room
     * in a full key (tried again first, in order), group_send() waits. What happens after it
     * returns is logged and counted, not thrown: a message whose connection is lost before
     * Redis answers (RedisLayerStats::group_sends_failed), and members whose key stayed full
     * past `backpressure_timeout` or was overtaken by a later message while full
     * (dropped_over_capacity). settle() waits for the answers. 0: every group_send() waits
     * for its answer, as channels_redis does.
     */
    std::size_t group_send_pipeline = 16;
    /** How long one blocking pop (BZPOPMIN) waits before it is issued again. */
    std::chrono::milliseconds receive_poll = std::chrono::seconds(1);
    /**
     * channels_redis' `symmetric_encryption_keys`: when not empty, every message the layer
     * writes to Redis is encrypted (Fernet, AES-128-CBC + HMAC-SHA256) with a key derived
     * from the first of these, and every message it reads is decrypted with whichever of
     * them made it (put a new key first and keep the old ones until their messages have
     * expired). Each key is any text, e.g. Django's `SECRET_KEY`: the same list as a Django
     * project's `"symmetric_encryption_keys": [SECRET_KEY]` lets the two talk. A message
     * that none of them decrypts, or older than `expiry` + 10 s, is dropped, logged with its
     * Redis key and counted in RedisLayerStats::undecryptable. Empty (the default): no
     * encryption. Keys must not be empty strings.
     */
    std::vector<std::string> symmetric_encryption_keys;
};

/** Counters of a RedisChannelLayer since it was built (observability, benchmarks). */
struct RedisLayerStats {
    /** Request round trips to Redis, all connections together. */
    std::uint64_t round_trips = 0;
    /** group_send() calls that reached Redis. */
    std::uint64_t group_sends = 0;
    /** group_send() deliveries skipped because the target's Redis queue was full. */
    std::uint64_t dropped_over_capacity = 0;
    /**
     * Pipelined group_send()s (RedisLayerSettings::group_send_pipeline) that returned and
     * then got no answer: the connection was lost, or Redis answered an error. Each is
     * logged; it may or may not have reached its members.
     */
    std::uint64_t group_sends_failed = 0;
    /** Messages from Redis dropped because a local channel's buffer was full. */
    std::uint64_t dropped_local_full = 0;
    /** Messages popped from Redis by this process's receive loops. */
    std::uint64_t received = 0;
    /** Payloads from Redis that could not be decoded (logged, skipped). */
    std::uint64_t malformed = 0;
    /**
     * Payloads from Redis that symmetric_encryption_keys could not decrypt (another key,
     * altered, not encrypted, or expired): logged with their Redis key, skipped.
     */
    std::uint64_t undecryptable = 0;
};

/**
 * A channel layer for many processes: channels are Redis sorted sets scored by time,
 * groups are sorted sets of channel names scored by when they joined, exactly as
 * channels_redis 4 stores them, so Django processes using channels_redis on the same Redis
 * and prefix talk to canal consumers in both directions.
 *
 * Process-specific channels (`specific.<process>!<id>`, from new_channel()) are received
 * by one BZPOPMIN loop per process (and per shard) that hands each message to the local
 * channel it names; a local channel whose buffer is full drops the message (counted in
 * stats()) instead of holding up the others. With several hosts, a process-specific
 * channel is always sent to the shard its receiver listens on (channels_redis #221 sends
 * to a different one).
 *
 * When Redis is unreachable, calls fail at once with canal::Error naming the server and the
 * command; the layer reconnects in the background and, once back, re-adds the group
 * memberships of this process's channels that are still registered.
 *
 * @par Thread safety
 * All member functions may be called from any thread and executor. The layer runs its Redis
 * connections on a thread of its own; callers resume on their own executor.
 */
class RedisChannelLayer final : public ChannelLayer {
public:
    /**
     * Validates the settings and starts connecting in the background.
     *
     * @throws std::invalid_argument for a malformed URL, no hosts, a zero capacity, a
     * prefix that is not a valid group name or an empty encryption key.
     */
    explicit RedisChannelLayer(RedisLayerSettings settings = {});
    /** Closes the connections; pending calls fail. */
    ~RedisChannelLayer() override;
    RedisChannelLayer(RedisChannelLayer const&) = delete;
    RedisChannelLayer& operator=(RedisChannelLayer const&) = delete;

    /**
     * Blocks until every server answers PING, for up to `connect_timeout` each.
     *
     * Call it at start-up to fail early; not on an I/O thread.
     *
     * @throws canal::Error naming Redis and the first unreachable address.
     */
    void wait_connected();

    awaitable<void> send(std::string channel, Message message) override;
    /**
     * Waits for the next message on `channel`; resumes on the caller's executor.
     *
     * Process-specific channels of this process are served from the local buffers the
     * receive loop fills; other channels are popped from Redis directly.
     *
     * @par Cancellation
     * Supports terminal cancellation (`system_error(operation_aborted)`); a message already
     * popped is not lost for process-specific channels.
     */
    awaitable<Message> receive(std::string channel) override;
    awaitable<std::optional<Message>> receive_until_cancelled(std::string channel) override;
    std::shared_ptr<detail::ChannelReceiver>
    attach_receiver(std::string const& channel, net::any_io_executor ex,
                    detail::MessageSink* sink) override;
    /** `prefix`, `"."`, this process's random id, `"!"` and a random id, as channels_redis. */
    awaitable<std::string> new_channel(std::string prefix = "specific") override;
    awaitable<void> group_add(std::string group, std::string channel) override;
    awaitable<void> group_discard(std::string group, std::string channel) override;
    /**
     * Sends to every member. With one server, no `channel_capacity` patterns and no
     * encryption: one script that reads the group and adds one message per receiving key,
     * queued without waiting for its answer (RedisLayerSettings::group_send_pipeline).
     * Otherwise one round trip to read the group, then one script per target shard. Members
     * whose key is full are tried again until `backpressure_timeout`, then skipped and counted.
     */
    awaitable<void> group_send(std::string group, Message message) override;
    /**
     * Presence across every process on these Redis servers, in keys of its own
     * (`PREFIX:presence:GROUP`, `PREFIX:presence-deadlines`) that channels_redis ignores.
     */
    awaitable<void> presence_track(std::string group, std::string channel,
                                   boost::json::object meta) override;
    awaitable<void> presence_untrack(std::string group, std::string channel) override;
    awaitable<std::vector<PresenceEntry>> group_members(std::string group) override;
    [[nodiscard]] bool has_presence() const noexcept override { return true; }
    /** Deletes every key with the prefix on every shard, and the local buffers. */
    awaitable<void> flush() override;
    /** Messages skipped for capacity (in Redis or in a local buffer). */
    [[nodiscard]] std::size_t dropped_count() const noexcept override;
    /** Its Redis connections' round trips, errors, reconnects, and which are down. */
    [[nodiscard]] LayerStats layer_stats() const override;
    /**
     * Waits until the layer's thread has run everything queued before the call and the
     * pipelined group_send()s have their answers (or their keys have given up waiting for room).
     */
    bool settle(std::chrono::milliseconds limit) override;

    /** Counters since the layer was built. */
    [[nodiscard]] RedisLayerStats stats() const noexcept;
    /** The settings the layer was built with. */
    [[nodiscard]] RedisLayerSettings const& settings() const noexcept;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace canal
