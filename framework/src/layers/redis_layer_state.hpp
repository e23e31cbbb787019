// The Redis layer's state and operations, shared by its façade (redis_channel_layer.cpp),
// its operations (redis_layer_ops.cpp) and its receive side (redis_receive.cpp). Everything
// here runs on the layer's own thread unless it says otherwise.
#pragma once

#include "detail/notifier.hpp"
#include "layers/fernet.hpp"
#include "layers/local_channels.hpp"
#include "layers/redis_group_send.hpp"
#include "layers/redis_presence.hpp"
#include "layers/redis_wire.hpp"

#include <canal/core/message.hpp>
#include <canal/core/net.hpp>
#include <canal/layers/redis_channel_layer.hpp>
#include <canal/redis/client.hpp>

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace canal::detail {

/** The longest layer prefix and new_channel() prefix (channels_redis' limits). */
inline constexpr std::size_t max_prefix_length = 40;

/** One Redis server of the layer (a shard) and what the layer keeps about it. */
struct Shard {
    /** Where it is. */
    redis::Url url;
    /** The connection for commands (pipelined). */
    std::unique_ptr<redis::Client> client;
    /** The receive loop's own connection (BZPOPMIN blocks it); made with the loop. */
    std::unique_ptr<redis::Client> receiver;
    /** The keys of this process's channels that live here (what the loop pops). */
    std::vector<std::string> local_keys;
    /** The receive loop runs. */
    bool loop_running = false;
    /** The receive loop connection's id (CLIENT ID), 0 when unknown. */
    long long receiver_id = 0;
    /** The command connection was up once (later failures fail fast). */
    bool ever_connected = false;
    /** The receive loop's back-off timer. */
    std::unique_ptr<net::steady_timer> pause;
};

/** Everything the layer's coroutines share; lives on the layer's own I/O thread. */
struct RedisLayerState : std::enable_shared_from_this<RedisLayerState> {
    RedisLayerState(net::any_io_executor executor, RedisLayerSettings s);

    RedisLayerSettings const settings;
    CapacityTable const capacities;
    // symmetric_encryption_keys, when there are any.
    std::optional<MultiFernet> const crypter;
    net::any_io_executor ex;
    std::shared_ptr<LocalChannels> local;

    // Below: touched on the layer's thread only (except the atomics).
    std::mt19937_64 rng;
    redis::Script const send_script;
    redis::Script const group_send_script;
    redis::Script const group_send_one_trip_script;
    redis::Script const flush_script;
    redis::ClientOptions client_options;
    std::vector<Shard> shards;
    std::string client_prefix;
    std::map<std::string, std::set<std::string>> memberships;
    // Presence (group_members() and its diffs), made by start().
    std::shared_ptr<RedisPresence> presence;
    // Pipelined group_send()s (settings.group_send_pipeline): sent and not answered yet,
    // the messages waiting for room in full keys, whether those are being tried again, and
    // the signal for group_send()s waiting for any of these to change.
    std::size_t pipelined = 0;
    // The command connection's reconnects() + 1 when it last ran the one-trip script (Redis
    // has it cached since), 0 before.
    std::uint64_t one_trip_loaded = 0;
    PendingRetries pending_retries;
    bool retrying = false;
    Notifier pipeline_changed;
    std::size_t send_rr = 0;
    std::size_t receive_rr = 0;
    bool stopping = false;

    std::atomic<std::uint64_t> group_sends{0};
    std::atomic<std::uint64_t> dropped_over_capacity{0};
    std::atomic<std::uint64_t> group_sends_failed{0};
    std::atomic<std::uint64_t> overflow_reports{0};
    std::atomic<std::uint64_t> received{0};
    std::atomic<std::uint64_t> malformed{0};
    std::atomic<std::uint64_t> undecryptable{0};

    [[nodiscard]] std::size_t shard_count() const { return shards.size(); }
    [[nodiscard]] std::string group_key(std::string_view group) const;
    /** True for a process-specific channel made by this layer's new_channel(). */
    [[nodiscard]] bool is_ours(std::string_view channel) const;

    // A message as stored in Redis (channels_redis' serialize()), encrypted when there are keys.
    std::string make_payload(boost::json::object const& message, AsgiChannel to);
    // channels_redis' deserialize() up to the msgpack; nothing (logged, counted) when the
    // keys cannot decrypt it.
    std::optional<std::string> open_payload(std::string const& payload, std::string_view key);

    void start();
    void stop();
    // Re-adds this process's memberships of the groups stored on `shard`.
    void restore_memberships(std::size_t shard);
    // Waits for the first connection of a shard that never connected yet.
    awaitable<redis::Client*> client(std::size_t shard);

    // ---- operations (redis_layer_ops.cpp) ----
    static awaitable<void> send_op(std::shared_ptr<RedisLayerState> self, std::string channel,
                                   Message message);
    static awaitable<void> group_add_op(std::shared_ptr<RedisLayerState> self, std::string group,
                                        std::string channel);
    static awaitable<void> group_discard_op(std::shared_ptr<RedisLayerState> self,
                                            std::string group, std::string channel);
    static awaitable<void> group_send_op(std::shared_ptr<RedisLayerState> self, std::string group,
                                         Message message);
    static awaitable<std::string> new_channel_op(std::shared_ptr<RedisLayerState> self,
                                                 std::string prefix);
    static awaitable<void> flush_op(std::shared_ptr<RedisLayerState> self);
    static awaitable<void> connect_all(std::shared_ptr<RedisLayerState> self);
    // Returns once no pipelined group_send waits for an answer or for room.
    static awaitable<void> pipeline_idle(std::shared_ptr<RedisLayerState> self);

    // ---- the receive side (redis_receive.cpp) ----
    void ensure_receive_loop(std::size_t shard);
    static awaitable<Message> receive_normal_op(std::shared_ptr<RedisLayerState> self,
                                                std::string channel);

private:
    void start_presence();
    static awaitable<void> first_connect(std::shared_ptr<RedisLayerState> self, std::size_t i);
    static awaitable<void> run_pipeline(std::shared_ptr<RedisLayerState> self, std::size_t shard,
                                        std::vector<redis::Command> commands);
    static awaitable<redis::Client*> presence_client(std::weak_ptr<RedisLayerState> weak,
                                                     std::size_t shard);
    static awaitable<void> presence_group_send(std::weak_ptr<RedisLayerState> weak,
                                               std::string group, Message message);
    static awaitable<void> group_send_one_trip(std::shared_ptr<RedisLayerState> self,
                                               std::string group, Message message);
    static awaitable<void> send_to_shard(std::shared_ptr<RedisLayerState> self, std::size_t shard,
                                         std::string group, std::vector<std::string> keys,
                                         std::vector<std::string> args,
                                         std::vector<std::size_t> counts);
    // Tries `retry` again with back-off until its keys have room or `deadline` passes.
    static awaitable<void> retry_full(std::shared_ptr<RedisLayerState> self, std::size_t shard,
                                      std::string group, GroupSendRetry retry,
                                      std::chrono::steady_clock::time_point deadline);
    // A pipelined group_send's answer, once Redis gives it (spawned by group_send_one_trip).
    static awaitable<void> pipelined_answer(std::shared_ptr<RedisLayerState> self,
                                            std::string group, std::string head,
                                            std::vector<std::string> keys,
                                            std::vector<std::string> args);
    // Tries the pending retries again, in order, once every earlier message is answered.
    static awaitable<void> run_pending_retries(std::shared_ptr<RedisLayerState> self);
    // The retry of a one-trip answer's full keys.
    GroupSendRetry one_trip_retry(OneTripAnswer& answer, std::string const& head);
    static awaitable<void> unblock(std::shared_ptr<RedisLayerState> self, std::size_t shard,
                                   long long id);
    static awaitable<void> receive_loop(std::shared_ptr<RedisLayerState> self, std::size_t shard);

    /** A message from Redis and the local channels that had no room for it. */
    struct Blocked {
        Message message;
        std::vector<std::string> channels;
    };
    std::optional<Blocked> dispatch(std::string const& payload, std::string const& key);
    awaitable<void> deliver(std::string const& payload, std::string const& key);
};

} // namespace canal::detail
