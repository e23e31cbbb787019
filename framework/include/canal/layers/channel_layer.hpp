// ChannelLayer: the interface every channel layer implements (Channels' BaseChannelLayer).
#pragma once

#include <canal/core/message.hpp>
#include <canal/core/net.hpp>
#include <canal/core/scope.hpp>

#include <boost/json/object.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace canal {

namespace detail {
class ChannelReceiver;
class MessageSink;
} // namespace detail

/** Settings shared by channel layers, with Channels' defaults. */
struct LayerSettings {
    /** Messages a channel holds before send() throws ChannelFull. */
    std::size_t capacity = 100;
    /**
     * Per-channel capacities: glob patterns (`*`, `?`, `[...]`, matched against the whole
     * channel name) with their capacity; the first match wins, else `capacity`
     * (channels_redis' `channel_capacity`).
     */
    std::vector<std::pair<std::string, std::size_t>> channel_capacity{};
    /** A message not received within this time is dropped. */
    std::chrono::milliseconds expiry = std::chrono::seconds(60);
    /** A group membership not renewed within this time lapses. */
    std::chrono::milliseconds group_expiry = std::chrono::seconds(86400);
    /**
     * How long group_send() waits for room in a member's full channel (backpressure on the
     * sender) before it gives that member up: the message is not queued, and the member's
     * next receive() throws ChannelOverflow, so its client is told (websocket close 1013).
     */
    std::chrono::milliseconds backpressure_timeout = std::chrono::seconds(3);
    /**
     * Presence (ChannelLayer::presence_track()) across processes: each process renews its
     * entries every third of this; an entry not renewed for this long (its process crashed
     * or lost Redis) is removed by whichever process sweeps first, which sends its leave to
     * the group. At least 100 ms. The Redis layer's; in one process (the in-memory layer)
     * entries do not expire.
     */
    std::chrono::milliseconds presence_ttl = std::chrono::seconds(30);
};

/** One member of a group's presence: its channel and what it said about itself. */
struct PresenceEntry {
    /** The channel present in the group. */
    std::string channel;
    /** The `meta` given to presence_track() (e.g. `{"username": "ann"}`). */
    boost::json::object meta;
};

/** Upper bounds (seconds) of the buckets of LayerStats::group_send_histogram; +Inf follows. */
inline constexpr std::array<double, 16> group_send_buckets{
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,    5.0};

/** What a channel layer reports to metrics and health checks (ChannelLayer::layer_stats()). */
struct LayerStats {
    /** Requests sent to the layer's servers (Redis: one per round trip); 0 in memory. */
    std::uint64_t round_trips = 0;
    /** Requests that failed for want of a server (not connected, connection lost, timeout). */
    std::uint64_t errors = 0;
    /** Connections to a server established again after a loss. */
    std::uint64_t reconnects = 0;
    /** group_send() calls completed, by duration: group_send_buckets, then +Inf (not cumulative). */
    std::array<std::uint64_t, group_send_buckets.size() + 1> group_send_histogram{};
    /** The sum of those durations, in seconds. */
    double group_send_seconds = 0;
    /** False while a server the layer needs cannot be reached. */
    bool reachable = true;
    /** What cannot be reached, when not `reachable` (e.g. "redis://127.0.0.1:6379/0"). */
    std::string unreachable;
};

/**
 * Messaging between consumers: point-to-point channels and named groups.
 *
 * Channel names: ASCII letters, digits, `-`, `_`, `.`, and one `!` for process-local
 * channels (as returned by new_channel()), under 100 characters. Group names: the same
 * without `!`. Invalid names throw InvalidName with a message that says what is allowed.
 *
 * @par Thread safety
 * All member functions may be called from any thread and any executor.
 */
class ChannelLayer {
public:
    virtual ~ChannelLayer() = default;

    /** Sends to one channel; throws ChannelFull when it holds `capacity` messages. */
    virtual awaitable<void> send(std::string channel, Message message) = 0;

    /**
     * Waits for the next message on `channel`; resumes on the caller's executor.
     *
     * @par Cancellation
     * Supports terminal cancellation: throws `system_error(operation_aborted)`, and no
     * message is lost.
     */
    virtual awaitable<Message> receive(std::string channel) = 0;

    /**
     * receive(), but nothing instead of `operation_aborted` when cancelled: a consumer's
     * own loop ends this way at every disconnect. The default calls receive(); the
     * built-in layers answer without an exception.
     */
    virtual awaitable<std::optional<Message>> receive_until_cancelled(std::string channel);

    /**
     * For the framework's consumers: a receiver that hands `channel`'s messages to `sink` as
     * they arrive, by callbacks on `ex` (no coroutine waits while the channel is idle), or
     * null when the layer has none; the consumer then loops on receive_until_cancelled().
     * The default returns null; the built-in layers have one for their process-local
     * channels.
     */
    virtual std::shared_ptr<detail::ChannelReceiver>
    attach_receiver(std::string const& channel, net::any_io_executor ex, detail::MessageSink* sink);

    /** A new unique process-local channel name: `prefix`, then `".!"`, then random letters. */
    virtual awaitable<std::string> new_channel(std::string prefix = "specific") = 0;

    /** Adds `channel` to `group` (renews its membership). */
    virtual awaitable<void> group_add(std::string group, std::string channel) = 0;

    /** Removes `channel` from `group`; a no-op when it is not a member. */
    virtual awaitable<void> group_discard(std::string group, std::string channel) = 0;

    /**
     * Sends one shared message to every member of `group`.
     *
     * Where Channels skips a member whose channel is full without a word, canal waits for
     * room (the sender is slowed down, up to `backpressure_timeout`); a member still full
     * then misses the message and is told: its receive() throws ChannelOverflow. Such
     * members are counted (dropped_count()). Completes when every member has the message
     * or has been given up; a layer that pipelines (RedisChannelLayer, see
     * RedisLayerSettings::group_send_pipeline) completes once the message is queued in
     * order, waits for room behind it, and makes the next group_send() wait meanwhile.
     * Either way, all of it is over when settle() returns.
     */
    virtual awaitable<void> group_send(std::string group, Message message) = 0;

    /** Drops every channel, message and group. */
    virtual awaitable<void> flush() = 0;

    /**
     * Presence: records `channel` as present in `group` with `meta` (what others see of it,
     * e.g. `{"username": "ann"}`; at most 4 KiB as JSON), and sends the group a
     * `presence.diff` message: `{"type": "presence.diff", "group": GROUP, "joins": {CHANNEL:
     * META}, "leaves": {}}`. Tracking a channel again replaces its meta (a join again).
     * Presence is kept apart from group membership: track the channel and group_add() it.
     *
     * The built-in in-memory and Redis layers have it (the Redis one across processes: an
     * entry whose process stops renewing it, a crashed one, expires after
     * LayerSettings::presence_ttl and another process sends its leave); the default
     * throws canal::Error saying the layer has no presence.
     */
    virtual awaitable<void> presence_track(std::string group, std::string channel,
                                           boost::json::object meta);

    /**
     * Removes `channel` from `group`'s presence and sends the group a `presence.diff` with
     * it under "leaves"; nothing when it was not tracked.
     */
    virtual awaitable<void> presence_untrack(std::string group, std::string channel);

    /** Who is present in `group` now (every process), in no particular order. */
    virtual awaitable<std::vector<PresenceEntry>> group_members(std::string group);

    /** True when the presence calls work (false: they throw canal::Error). */
    [[nodiscard]] virtual bool has_presence() const noexcept { return false; }

    /** Messages a member missed because its channel stayed full (each one told), since start. */
    [[nodiscard]] virtual std::size_t dropped_count() const noexcept = 0;

    /**
     * Counters and reachability for metrics and health checks. The default reports the
     * group_send() durations recorded with observe_group_send() and a reachable layer; the
     * Redis layers add their servers' round trips, errors, reconnects and reachability.
     */
    [[nodiscard]] virtual LayerStats layer_stats() const;

    /**
     * Returns once every completion the layer had begun handing to a caller's executor has
     * been handed over (a layer with threads of its own may still be inside such a post), or
     * after `limit`; false then. Call it after the callers have stopped and before their
     * io_context is destroyed; the Server and run_worker() do. Not from the layer's own thread.
     */
    virtual bool settle(std::chrono::milliseconds limit);

    /** Throws InvalidName unless `name` is a valid channel name. */
    static void require_valid_channel_name(std::string_view name);
    /** Throws InvalidName unless `name` is a valid group name. */
    static void require_valid_group_name(std::string_view name);
    /** True when `name` is a valid group name. */
    [[nodiscard]] static bool is_valid_group_name(std::string_view name) noexcept;
    /** True when `name` is a valid channel name. */
    [[nodiscard]] static bool is_valid_channel_name(std::string_view name) noexcept;

protected:
    /** Records how long one group_send() took (the built-in layers call it; see layer_stats()). */
    void observe_group_send(std::chrono::steady_clock::duration took) noexcept;
    /** Awaits `op` (a group_send()'s work) and records its duration when it completes. */
    awaitable<void> timed_group_send(awaitable<void> op);

private:
    std::array<std::atomic<std::uint64_t>, group_send_buckets.size() + 1> group_send_counts_{};
    std::atomic<std::uint64_t> group_send_ns_{0};
};

/** The alias of Settings::channel_layer (Channels' DEFAULT_CHANNEL_LAYER). */
inline constexpr std::string_view default_layer_alias = "default";

/**
 * Channels' `get_channel_layer(alias)`: the layer `alias` names for the application that
 * `scope` belongs to, or null when it has none of that name (as Channels returns None).
 */
[[nodiscard]] std::shared_ptr<ChannelLayer> get_channel_layer(Scope const& scope,
                                                              std::string_view alias = default_layer_alias);

/** "default, other, ...": the aliases `scope` knows (for error messages). */
[[nodiscard]] std::string layer_aliases(Scope const& scope);

} // namespace canal
