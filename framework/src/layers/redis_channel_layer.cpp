// RedisChannelLayer: channels_redis 4's storage model over canal's Redis client.
#include <canal/layers/redis_channel_layer.hpp>

#include "detail/crypto.hpp"
#include "detail/log.hpp"
#include "layers/fernet.hpp"
#include "layers/local_channels.hpp"
#include "layers/presence.hpp"
#include "layers/redis_presence.hpp"
#include "layers/redis_stats.hpp"
#include "layers/redis_wire.hpp"

#include <canal/core/errors.hpp>
#include <canal/redis/client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace canal {

namespace {

using redis::Command;
using redis::Reply;

// Deletes every old message of each key, then adds one message per key unless the key is
// at its capacity; returns the (1-based) indices of the keys that were full. channels_redis
// runs the clean-up as a separate pipeline first; one script is one round trip.
constexpr char const* group_send_lua = R"lua(
local n = #KEYS
local now = ARGV[2 * n + 1]
local expiry = ARGV[2 * n + 2]
local cutoff = ARGV[2 * n + 3]
local over = {}
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, cutoff)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[n + i]) then
        redis.call('ZADD', KEYS[i], now, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over[#over + 1] = i
    end
end
return over
)lua";

// group_send() when everything lives on one Redis (one shard, no capacity patterns): reads
// the group and writes one message per receiving key in the same script, one round trip.
// The payload is the random prefix, the message's msgpack map (announcing one more entry)
// and, appended here, the list of the key's member channels as `__asgi_channel__`'s value.
// Returns {members, channels skipped because their key was full}, then for each full key:
// the key, its packed channel list and its channel count (the sender tries those again).
constexpr char const* group_send_one_trip_lua = R"lua(
local prefix = ARGV[1]
local random = ARGV[2]
local head = ARGV[3]
local now = ARGV[4]
local expiry = ARGV[5]
local cutoff = ARGV[6]
local capacity = tonumber(ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[7])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local buckets = {}
local order = {}
for _, channel in ipairs(members) do
    local bang = string.find(channel, '!', 1, true)
    local key = prefix .. (bang and string.sub(channel, 1, bang) or channel)
    local bucket = buckets[key]
    if not bucket then
        bucket = {}
        buckets[key] = bucket
        order[#order + 1] = key
    end
    bucket[#bucket + 1] = channel
end
local dropped = 0
local full = {}
for _, key in ipairs(order) do
    local bucket = buckets[key]
    redis.call('ZREMRANGEBYSCORE', key, 0, cutoff)
    if redis.call('ZCOUNT', key, '-inf', '+inf') < capacity then
        redis.call('ZADD', key, now, random .. head .. cmsgpack.pack(bucket))
        redis.call('EXPIRE', key, expiry)
    else
        dropped = dropped + #bucket
        full[#full + 1] = key
        full[#full + 1] = cmsgpack.pack(bucket)
        full[#full + 1] = #bucket
    end
end
local out = {#members, dropped}
for _, v in ipairs(full) do
    out[#out + 1] = v
end
return out
)lua";

// send(): the same steps for one key; returns 0 when the channel is full.
constexpr char const* send_lua = R"lua(
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
if redis.call('ZCOUNT', KEYS[1], '-inf', '+inf') >= tonumber(ARGV[4]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
)lua";

// flush(): channels_redis' deletion of every key with the prefix.
constexpr char const* flush_lua = R"lua(
local keys = redis.call('keys', ARGV[1])
for i = 1, #keys, 5000 do
    redis.call('del', unpack(keys, i, math.min(i + 4999, #keys)))
end
return #keys
)lua";

constexpr std::size_t max_prefix_length = 40;

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string score(double seconds) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.6f", seconds);
    return buffer;
}

long long whole_seconds(std::chrono::milliseconds d) {
    return std::max<long long>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

// 32 hex digits from OpenSSL's CSPRNG: a channel name must not be guessable.
std::string random_name_part() { return detail::to_hex(detail::random_bytes_cached(16)); }

// channels_redis' random prefix of a payload: it keeps equal messages apart in a channel's
// sorted set, and is no secret (channels_redis takes it from Python's `random`), so a fast
// PRNG on the layer's thread makes it.
std::string unique_prefix(std::mt19937_64& rng, std::size_t n) {
    std::string out;
    out.reserve(n);
    while (out.size() < n) {
        auto v = rng();
        for (int i = 0; i < 8 && out.size() < n; ++i, v >>= 8) {
            out += static_cast<char>(v & 0xff);
        }
    }
    return out;
}

RedisLayerSettings checked(RedisLayerSettings s) {
    if (s.hosts.empty()) {
        throw std::invalid_argument("RedisLayerSettings::hosts is empty: give at least one "
                                    "redis://host:port URL");
    }
    if (s.capacity == 0) {
        throw std::invalid_argument("RedisLayerSettings::capacity must be at least 1");
    }
    if (s.expiry < std::chrono::seconds(1) || s.group_expiry < std::chrono::seconds(1)) {
        throw std::invalid_argument(
            "RedisLayerSettings::expiry and group_expiry must be at least 1 second "
            "(Redis expires keys in whole seconds)");
    }
    if (s.prefix.empty() || s.prefix.size() > max_prefix_length ||
        s.prefix.find_first_of(" \t\r\n*?[]") != std::string::npos) {
        throw std::invalid_argument("RedisLayerSettings::prefix '" + s.prefix +
                                    "' is invalid: 1 to 40 characters, no spaces or glob "
                                    "characters");
    }
    if (s.presence_ttl < std::chrono::milliseconds(100)) {
        throw std::invalid_argument("LayerSettings::presence_ttl must be at least 100 ms");
    }
    for (auto const& key : s.symmetric_encryption_keys) {
        if (key.empty()) {
            throw std::invalid_argument("RedisLayerSettings::symmetric_encryption_keys holds an "
                                        "empty key: give secret text, e.g. Django's SECRET_KEY");
        }
    }
    return s;
}

} // namespace

namespace detail {

/** Everything the layer's coroutines share; lives on the layer's own I/O thread. */
struct RedisLayerState : std::enable_shared_from_this<RedisLayerState> {
    RedisLayerState(net::any_io_executor executor, RedisLayerSettings s)
        : settings(checked(std::move(s))), capacities(settings.channel_capacity, settings.capacity),
          crypter(make_crypter(settings)), ex(std::move(executor)),
          local(make_local_channels(settings)), rng(std::random_device{}()), send_script(send_lua),
          group_send_script(group_send_lua), group_send_one_trip_script(group_send_one_trip_lua),
          flush_script(flush_lua) {
        redis::ClientOptions options;
        options.connect_timeout = settings.connect_timeout;
        options.command_timeout = settings.command_timeout;
        for (auto const& host : settings.hosts) {
            urls.push_back(redis::Url::parse(host));
        }
        for (auto const& url : urls) {
            clients.push_back(std::make_unique<redis::Client>(ex, url, options));
            receivers.push_back(nullptr);
        }
        client_options = options;
        local_keys.resize(urls.size());
        loop_running.resize(urls.size(), false);
        receiver_ids.resize(urls.size(), 0);
        ever_connected.resize(urls.size(), false);
        pauses.resize(urls.size());
        client_prefix = random_name_part();
    }

    RedisLayerSettings const settings;
    CapacityTable const capacities;
    // symmetric_encryption_keys, when there are any.
    std::optional<MultiFernet> const crypter;
    net::any_io_executor ex;
    std::shared_ptr<InMemoryLayerState> local;

    // Below: touched on the layer's thread only (except the atomics).
    std::mt19937_64 rng;
    redis::Script const send_script;
    redis::Script const group_send_script;
    redis::Script const group_send_one_trip_script;
    redis::Script const flush_script;
    redis::ClientOptions client_options;
    std::vector<redis::Url> urls;
    std::vector<std::unique_ptr<redis::Client>> clients;
    std::vector<std::unique_ptr<redis::Client>> receivers;
    std::vector<std::vector<std::string>> local_keys;
    std::vector<bool> loop_running;
    // The receive loops' Redis connection ids (CLIENT ID), 0 when unknown.
    std::vector<long long> receiver_ids;
    std::vector<bool> ever_connected;
    std::vector<std::unique_ptr<net::steady_timer>> pauses;
    std::string client_prefix;
    std::map<std::string, std::set<std::string>> memberships;
    // Presence (group_members() and its diffs), made by start().
    std::shared_ptr<RedisPresence> presence;
    std::size_t send_rr = 0;
    std::size_t receive_rr = 0;
    bool stopping = false;

    std::atomic<std::uint64_t> group_sends{0};
    std::atomic<std::uint64_t> dropped_over_capacity{0};
    std::atomic<std::uint64_t> overflow_reports{0};
    std::atomic<std::uint64_t> received{0};
    std::atomic<std::uint64_t> malformed{0};
    std::atomic<std::uint64_t> undecryptable{0};

    static std::optional<MultiFernet> make_crypter(RedisLayerSettings const& s) {
        if (s.symmetric_encryption_keys.empty()) {
            return std::nullopt;
        }
        return MultiFernet::from_channels_redis_keys(s.symmetric_encryption_keys);
    }

    // A message as stored in Redis: channels_redis' serialize(), random prefix then the
    // msgpack map, encrypted when there are keys (the prefix stays in the clear).
    std::string make_payload(boost::json::object const& message, AsgiChannel to) {
        auto payload = encode_payload(message, to, rng);
        if (!crypter) {
            return payload;
        }
        constexpr std::size_t prefix_size = 12;
        auto const body = std::string_view(payload).substr(prefix_size);
        return payload.substr(0, prefix_size) + crypter->encrypt(body);
    }

    // channels_redis' deserialize() up to the msgpack: decrypts (with its ttl, expiry + 10 s)
    // when there are keys. Returns nothing, logged and counted, when the keys cannot.
    std::optional<std::string> open_payload(std::string const& payload, std::string_view key) {
        if (!crypter) {
            return payload;
        }
        constexpr std::size_t prefix_size = 12;
        auto const ttl = std::chrono::duration_cast<std::chrono::seconds>(settings.expiry) +
                         std::chrono::seconds(10);
        try {
            auto const body =
                std::string_view(payload).substr(std::min(prefix_size, payload.size()));
            return payload.substr(0, prefix_size) + crypter->decrypt(body, ttl);
        } catch (InvalidToken const& e) {
            auto const n = undecryptable.fetch_add(1, std::memory_order_relaxed) + 1;
            if (n <= 10 || n % 1000 == 0) {
                detail::log_warning(
                    "redis layer: dropped a message in Redis key '" + std::string(key) +
                    "' that symmetric_encryption_keys cannot decrypt: " + e.what() + " (" +
                    std::to_string(n) + " so far; do both sides use the same keys?)");
            }
            return std::nullopt;
        }
    }

    [[nodiscard]] std::size_t shards() const { return urls.size(); }

    [[nodiscard]] std::string group_key(std::string_view group) const {
        return settings.prefix + ":group:" + std::string(group);
    }

    [[nodiscard]] bool is_ours(std::string_view channel) const {
        auto const nl = non_local_name(channel);
        return nl.size() > client_prefix.size() + 1 && nl.back() == '!' &&
               nl.substr(nl.size() - 1 - client_prefix.size(), client_prefix.size()) ==
                   client_prefix;
    }

    // The presence's way to the shards and to group_send(), without keeping the state alive.
    static awaitable<redis::Client*> presence_client(std::weak_ptr<RedisLayerState> weak,
                                                     std::size_t shard) {
        auto self = weak.lock();
        if (!self || self->stopping) {
            throw Error("redis layer: stopped");
        }
        co_return co_await self->client(shard);
    }
    static awaitable<void> presence_group_send(std::weak_ptr<RedisLayerState> weak,
                                               std::string group, Message message) {
        auto self = weak.lock();
        if (!self || self->stopping) {
            co_return;
        }
        co_await group_send_op(self, std::move(group), std::move(message));
    }

    void start_presence() {
        std::weak_ptr<RedisLayerState> weak = shared_from_this();
        RedisPresence::Hooks hooks;
        hooks.shards = shards();
        auto const n = shards();
        hooks.shard_of = [n](std::string_view group) { return consistent_hash(group, n); };
        hooks.client = [weak](std::size_t shard) { return presence_client(weak, shard); };
        hooks.group_send = [weak](std::string group, Message message) {
            return presence_group_send(weak, std::move(group), std::move(message));
        };
        presence = std::make_shared<RedisPresence>(settings.prefix, settings.presence_ttl,
                                                   std::move(hooks));
        net::co_spawn(ex, RedisPresence::run(presence), [](std::exception_ptr e) {
            detail::log_exception("redis layer presence", e);
        });
    }

    void start() {
        start_presence();
        for (std::size_t i = 0; i < shards(); ++i) {
            std::weak_ptr<RedisLayerState> weak = shared_from_this();
            clients[i]->on_connect([weak, i] {
                if (auto self = weak.lock()) {
                    self->restore_memberships(i);
                }
            });
            net::co_spawn(ex, first_connect(shared_from_this(), i), [](std::exception_ptr) {});
        }
    }

    static awaitable<void> first_connect(std::shared_ptr<RedisLayerState> self, std::size_t i) {
        try {
            co_await self->clients[i]->connect();
        } catch (std::exception const& e) {
            detail::log_warning(std::string("redis layer: ") + e.what() +
                                "; retrying in the background");
        }
    }

    void stop() {
        stopping = true;
        if (presence) {
            presence->stop();
        }
        for (auto& c : clients) {
            c->close();
        }
        for (auto& r : receivers) {
            if (r) {
                r->close();
            }
        }
        for (auto& p : pauses) {
            if (p) {
                p->cancel();
            }
        }
    }

    // Re-adds this process's memberships of the groups stored on `shard` (after Redis lost
    // them, e.g. a restart without persistence).
    void restore_memberships(std::size_t shard) {
        ever_connected[shard] = true;
        std::vector<Command> commands;
        auto const now = score(now_seconds());
        auto const expiry = std::to_string(whole_seconds(settings.group_expiry));
        std::size_t channels = 0;
        for (auto const& [group, members] : memberships) {
            if (members.empty() || consistent_hash(group, shards()) != shard) {
                continue;
            }
            auto const key = group_key(group);
            Command zadd{"ZADD", key};
            for (auto const& channel : members) {
                zadd.push_back(now);
                zadd.push_back(channel);
                ++channels;
            }
            commands.push_back(std::move(zadd));
            Command expire{"EXPIRE", key, expiry};
            commands.push_back(std::move(expire));
        }
        if (commands.empty()) {
            return;
        }
        detail::log_info("redis layer: restoring " + std::to_string(channels) +
                         " group memberships on " + urls[shard].address());
        net::co_spawn(ex, run_pipeline(shared_from_this(), shard, std::move(commands)),
                      [](std::exception_ptr ep) {
                          canal::detail::log_exception("redis layer: restoring memberships", ep);
                      });
    }

    static awaitable<void> run_pipeline(std::shared_ptr<RedisLayerState> self, std::size_t shard,
                                        std::vector<Command> commands) {
        auto replies = co_await self->clients[shard]->pipeline(std::move(commands));
        for (auto const& r : replies) {
            if (r.is_error()) {
                throw Error("Redis " + self->urls[shard].address() + ": " + r.str);
            }
        }
    }

    // Waits for the first connection of a shard that never connected yet; afterwards
    // calls fail fast while the client reconnects.
    awaitable<redis::Client*> client(std::size_t shard) {
        if (!ever_connected[shard] && !clients[shard]->connected()) {
            co_await clients[shard]->connect();
        }
        co_return clients[shard].get();
    }

    // ---- operations (run on the layer's thread) ----

    static awaitable<void> send_op(std::shared_ptr<RedisLayerState> self, std::string channel,
                                   Message message) {
        auto const specific = channel.find('!') != std::string::npos;
        auto const nl = non_local_name(channel);
        auto key = self->settings.prefix + std::string(nl);
        // Process-specific channels go where their receiver listens: the shard of the
        // non-local name (channels_redis hashes the full name here, #221).
        auto const shard =
            specific ? consistent_hash(nl, self->shards()) : self->send_rr++ % self->shards();
        AsgiChannel to;
        if (specific) {
            to.single = channel;
        }
        auto payload = self->make_payload(message.object(), to);
        auto const now = now_seconds();
        auto const expiry = whole_seconds(self->settings.expiry);
        auto const capacity = self->capacities.capacity(channel);
        std::vector<std::string> keys{std::move(key)};
        std::vector<std::string> args;
        args.push_back(std::move(payload));
        args.push_back(score(now));
        args.push_back(std::to_string(static_cast<long long>(now) - expiry));
        args.push_back(std::to_string(capacity));
        args.push_back(std::to_string(expiry));
        auto* c = co_await self->client(shard);
        auto reply = co_await c->eval(self->send_script, std::move(keys), std::move(args));
        if (reply.kind == Reply::Kind::integer && reply.integer == 0) {
            throw ChannelFull("channel '" + channel + "' is full (capacity " +
                              std::to_string(capacity) + ")");
        }
    }

    static awaitable<void> group_add_op(std::shared_ptr<RedisLayerState> self, std::string group,
                                        std::string channel) {
        auto const shard = consistent_hash(group, self->shards());
        auto key = self->group_key(group);
        std::vector<Command> commands;
        Command zadd{"ZADD", key, score(now_seconds()), channel};
        commands.push_back(std::move(zadd));
        Command expire{"EXPIRE", key, std::to_string(whole_seconds(self->settings.group_expiry))};
        commands.push_back(std::move(expire));
        auto* c = co_await self->client(shard);
        auto replies = co_await c->pipeline(std::move(commands));
        for (auto const& r : replies) {
            if (r.is_error()) {
                throw Error("Redis " + self->urls[shard].address() +
                            ": group_add failed: " + r.str);
            }
        }
        if (self->is_ours(channel)) {
            self->memberships[group].insert(channel);
        }
    }

    static awaitable<void> group_discard_op(std::shared_ptr<RedisLayerState> self,
                                            std::string group, std::string channel) {
        auto it = self->memberships.find(group);
        if (it != self->memberships.end()) {
            it->second.erase(channel);
            if (it->second.empty()) {
                self->memberships.erase(it);
            }
        }
        auto const shard = consistent_hash(group, self->shards());
        Command zrem{"ZREM", self->group_key(group), channel};
        auto* c = co_await self->client(shard);
        co_await c->command(std::move(zrem));
    }

    struct Bucket {
        std::string key;
        std::vector<std::string> channels;
        std::size_t capacity = 0;
        std::size_t shard = 0;
    };

    static awaitable<void> group_send_op(std::shared_ptr<RedisLayerState> self, std::string group,
                                         Message message) {
        // The one-trip script appends each key's channel list to a shared msgpack head: an
        // encrypted payload must be built whole here, one per key, as channels_redis does.
        if (self->shards() == 1 && self->settings.channel_capacity.empty() && !self->crypter) {
            co_await group_send_one_trip(self, std::move(group), std::move(message));
            co_return;
        }
        auto const group_shard = consistent_hash(group, self->shards());
        auto const key = self->group_key(group);
        auto const now = now_seconds();
        auto const cutoff =
            static_cast<long long>(now) - whole_seconds(self->settings.group_expiry);
        std::vector<Command> lookup;
        Command clean{"ZREMRANGEBYSCORE", key, "0", std::to_string(cutoff)};
        lookup.push_back(std::move(clean));
        Command range{"ZRANGE", key, "0", "-1"};
        lookup.push_back(std::move(range));
        auto* gc = co_await self->client(group_shard);
        auto replies = co_await gc->pipeline(std::move(lookup));
        if (replies.size() != 2 || replies[1].kind != Reply::Kind::array) {
            auto const why = replies.size() == 2 ? replies[1].str : std::string("no reply");
            throw Error("Redis " + self->urls[group_shard].address() +
                        ": group_send failed reading group '" + group + "': " + why);
        }
        self->group_sends.fetch_add(1, std::memory_order_relaxed);

        // One message per Redis key (a process's specific channels share one key), with
        // the list of its channels in __asgi_channel__, as channels_redis does.
        std::vector<Bucket> buckets;
        std::unordered_map<std::string, std::size_t> index;
        for (auto& member : replies[1].elements) {
            std::string channel = std::move(member.str);
            auto const nl = non_local_name(channel);
            auto bucket_key = self->settings.prefix + std::string(nl);
            auto [it, inserted] = index.try_emplace(bucket_key, buckets.size());
            if (!inserted) {
                buckets[it->second].channels.push_back(std::move(channel));
                continue;
            }
            Bucket b;
            b.capacity = self->capacities.capacity(channel);
            b.shard = consistent_hash(nl, self->shards());
            b.key = std::move(bucket_key);
            b.channels.push_back(std::move(channel));
            buckets.push_back(std::move(b));
        }
        if (buckets.empty()) {
            co_return;
        }
        auto const expiry = whole_seconds(self->settings.expiry);
        auto const message_cutoff = static_cast<long long>(now) - expiry;
        // One script per target shard; the shards are written to at the same time.
        auto join = std::make_shared<ShardJoin>(self->ex);
        for (std::size_t shard = 0; shard < self->shards(); ++shard) {
            std::vector<std::size_t> mine;
            std::vector<std::size_t> counts;
            for (std::size_t i = 0; i < buckets.size(); ++i) {
                if (buckets[i].shard == shard) {
                    mine.push_back(i);
                    counts.push_back(buckets[i].channels.size());
                }
            }
            if (mine.empty()) {
                continue;
            }
            std::vector<std::string> keys;
            std::vector<std::string> args;
            keys.reserve(mine.size());
            args.reserve(2 * mine.size() + 3);
            for (auto i : mine) {
                keys.push_back(buckets[i].key);
                AsgiChannel to;
                to.list = &buckets[i].channels;
                args.push_back(self->make_payload(message.object(), to));
            }
            for (auto i : mine) {
                args.push_back(std::to_string(buckets[i].capacity));
            }
            args.push_back(score(now));
            args.push_back(std::to_string(expiry));
            args.push_back(std::to_string(message_cutoff));
            ++join->outstanding;
            auto op = send_to_shard(self, shard, group, std::move(keys), std::move(args),
                                    std::move(counts));
            net::co_spawn(self->ex, std::move(op), [join](std::exception_ptr ep) {
                if (ep && !join->failure) {
                    join->failure = ep;
                }
                if (--join->outstanding == 0) {
                    join->done.cancel();
                }
            });
        }
        if (join->outstanding > 0) {
            co_await join->done.async_wait(use_nothrow);
        }
        if (join->failure) {
            std::rethrow_exception(join->failure);
        }
    }

    // group_send on a single Redis: one script reads the group and writes to its members.
    static awaitable<void> group_send_one_trip(std::shared_ptr<RedisLayerState> self,
                                               std::string group, Message message) {
        auto const now = now_seconds();
        auto const expiry = whole_seconds(self->settings.expiry);
        std::vector<std::string> keys{self->group_key(group)};
        std::vector<std::string> args;
        args.push_back(self->settings.prefix);
        args.push_back(unique_prefix(self->rng, 12));
        args.push_back(encode_payload_head(message.object()));
        args.push_back(score(now));
        args.push_back(std::to_string(expiry));
        args.push_back(std::to_string(static_cast<long long>(now) - expiry));
        args.push_back(std::to_string(static_cast<long long>(now) -
                                      whole_seconds(self->settings.group_expiry)));
        args.push_back(std::to_string(self->settings.capacity));
        auto* c = co_await self->client(0);
        auto reply =
            co_await c->eval(self->group_send_one_trip_script, std::move(keys), std::move(args));
        self->group_sends.fetch_add(1, std::memory_order_relaxed);
        if (reply.kind != Reply::Kind::array || reply.elements.size() < 5) {
            co_return;
        }
        // Members whose Redis queue was full: wait for room there (backpressure), as the
        // in-memory layer does, instead of skipping them.
        Retry retry;
        auto const head = encode_payload_head(message.object());
        for (std::size_t i = 2; i + 2 < reply.elements.size(); i += 3) {
            retry.keys.push_back(std::move(reply.elements[i].str));
            retry.payloads.push_back(unique_prefix(self->rng, 12) + head +
                                     reply.elements[i + 1].str);
            retry.capacities.push_back(self->settings.capacity);
            retry.counts.push_back(static_cast<std::size_t>(reply.elements[i + 2].integer));
        }
        co_await retry_full(self, 0, std::move(group), std::move(retry));
    }

    /** Messages that found their Redis key full: tried again until there is room. */
    struct Retry {
        std::vector<std::string> keys;
        std::vector<std::string> payloads;
        std::vector<std::size_t> capacities;
        std::vector<std::size_t> counts; // channels behind each key
    };

    static awaitable<void> retry_full(std::shared_ptr<RedisLayerState> self, std::size_t shard,
                                      std::string group, Retry retry) {
        auto const deadline = std::chrono::steady_clock::now() + self->settings.backpressure_timeout;
        auto backoff = std::chrono::milliseconds(1);
        net::steady_timer pause(self->ex);
        while (!retry.keys.empty()) {
            if (std::chrono::steady_clock::now() >= deadline) {
                std::size_t lost = 0;
                for (auto n : retry.counts) {
                    lost += n;
                }
                self->dropped_over_capacity.fetch_add(lost, std::memory_order_relaxed);
                if (self->overflow_reports.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
                    detail::log_warning(
                        "redis layer: group_send to '" + group + "': " + std::to_string(lost) +
                        " member channel(s) stayed full in Redis for " +
                        std::to_string(self->settings.backpressure_timeout.count()) +
                        " ms; the message was not queued for them (counted in dropped_count())");
                }
                co_return;
            }
            pause.expires_after(backoff);
            co_await pause.async_wait(use_nothrow);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
            auto const now = now_seconds();
            auto const expiry = whole_seconds(self->settings.expiry);
            std::vector<std::string> args = retry.payloads;
            for (auto c : retry.capacities) {
                args.push_back(std::to_string(c));
            }
            args.push_back(score(now));
            args.push_back(std::to_string(expiry));
            args.push_back(std::to_string(static_cast<long long>(now) - expiry));
            auto keys = retry.keys;
            auto* c = co_await self->client(shard);
            auto reply = co_await c->eval(self->group_send_script, std::move(keys), std::move(args));
            Retry still;
            for (auto const& over : reply.elements) {
                auto const k = static_cast<std::size_t>(over.integer);
                if (k >= 1 && k <= retry.keys.size()) {
                    still.keys.push_back(std::move(retry.keys[k - 1]));
                    still.payloads.push_back(std::move(retry.payloads[k - 1]));
                    still.capacities.push_back(retry.capacities[k - 1]);
                    still.counts.push_back(retry.counts[k - 1]);
                }
            }
            retry = std::move(still);
        }
    }

    // Waits for the per-shard scripts of one group_send (all on the layer's thread).
    struct ShardJoin {
        explicit ShardJoin(net::any_io_executor const& ex) : done(ex) {
            done.expires_at(net::steady_timer::time_point::max());
        }
        net::steady_timer done;
        std::size_t outstanding = 0;
        std::exception_ptr failure;
    };

    static awaitable<void> send_to_shard(std::shared_ptr<RedisLayerState> self, std::size_t shard,
                                         std::string group, std::vector<std::string> keys,
                                         std::vector<std::string> args,
                                         std::vector<std::size_t> counts) {
        auto* c = co_await self->client(shard);
        auto const n = keys.size();
        auto reply = co_await c->eval(self->group_send_script, keys, args);
        Retry retry;
        for (auto const& over : reply.elements) {
            auto const k = static_cast<std::size_t>(over.integer);
            if (k >= 1 && k <= n) {
                retry.keys.push_back(keys[k - 1]);
                retry.payloads.push_back(args[k - 1]);
                retry.capacities.push_back(std::stoull(args[n + k - 1]));
                retry.counts.push_back(counts[k - 1]);
            }
        }
        if (!retry.keys.empty()) {
            co_await retry_full(self, shard, std::move(group), std::move(retry));
        }
    }

    static awaitable<std::string> new_channel_op(std::shared_ptr<RedisLayerState> self,
                                                 std::string prefix) {
        auto non_local = prefix + "." + self->client_prefix + "!";
        auto name = non_local + random_name_part();
        auto const shard = consistent_hash(non_local, self->shards());
        auto key = self->settings.prefix + non_local;
        auto& keys = self->local_keys[shard];
        bool const added = std::find(keys.begin(), keys.end(), key) == keys.end();
        if (added) {
            keys.push_back(std::move(key));
        }
        bool const was_running = self->loop_running[shard];
        self->ensure_receive_loop(shard);
        if (added && was_running && self->receiver_ids[shard] > 0) {
            // The loop waits in BZPOPMIN on the keys it knew: wake it, so that it waits on
            // this one too instead of after receive_poll.
            net::co_spawn(self->ex, unblock(self, shard, self->receiver_ids[shard]),
                          [](std::exception_ptr) {
                              // Best effort: without it the loop sees the key next poll.
                          });
        }
        co_return name;
    }

    static awaitable<void> unblock(std::shared_ptr<RedisLayerState> self, std::size_t shard,
                                   long long id) {
        Command command{"CLIENT", "UNBLOCK", std::to_string(id)};
        co_await self->clients[shard]->command(std::move(command));
    }

    void ensure_receive_loop(std::size_t shard) {
        if (loop_running[shard] || stopping) {
            return;
        }
        loop_running[shard] = true;
        receivers[shard] = std::make_unique<redis::Client>(ex, urls[shard], client_options);
        pauses[shard] = std::make_unique<net::steady_timer>(ex);
        net::co_spawn(ex, receive_loop(shared_from_this(), shard), [](std::exception_ptr ep) {
            canal::detail::log_exception("redis layer: receive loop", ep);
        });
    }

    // The process's receive loop for one shard: pops messages for this process's channels
    // and hands each to its local channel without waiting for any consumer.
    static awaitable<void> receive_loop(std::shared_ptr<RedisLayerState> self, std::size_t shard) {
        auto& client = *self->receivers[shard];
        auto& pause = *self->pauses[shard];
        auto backoff = std::chrono::milliseconds(50);
        bool reported = false;
        auto const poll = self->settings.receive_poll;
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%.3f", std::chrono::duration<double>(poll).count());
        while (!self->stopping) {
            auto const& keys = self->local_keys[shard];
            Command pop{"BZPOPMIN"};
            pop.insert(pop.end(), keys.begin(), keys.end());
            pop.emplace_back(seconds);
            Reply reply;
            std::string failure;
            try {
                if (!client.connected()) {
                    co_await client.connect();
                }
                if (self->receiver_ids[shard] == 0) {
                    Command id{"CLIENT", "ID"};
                    self->receiver_ids[shard] = (co_await client.command(std::move(id))).integer;
                }
                reply = co_await client.command(std::move(pop), poll);
            } catch (std::exception const& e) {
                failure = e.what();
                self->receiver_ids[shard] = 0; // a new connection gets a new id
            }
            if (self->stopping) {
                break;
            }
            if (!failure.empty()) {
                if (!reported) {
                    detail::log_warning("redis layer: receive loop: " + failure);
                    reported = true;
                }
                pause.expires_after(backoff);
                co_await pause.async_wait(use_nothrow);
                backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
                continue;
            }
            if (reported) {
                detail::log_info("redis layer: receive loop on " + self->urls[shard].address() +
                                 " is back");
                reported = false;
            }
            backoff = std::chrono::milliseconds(50);
            if (reply.kind != Reply::Kind::array || reply.elements.size() < 3) {
                continue;
            }
            co_await self->deliver(reply.elements[1].str, reply.elements[0].str);
            // Drain what else is queued without blocking, in one round trip per batch.
            for (;;) {
                std::vector<Command> drain;
                // new_channel() may add keys while the pipeline runs: name the ones asked.
                auto const asked = self->local_keys[shard];
                for (auto const& key : asked) {
                    Command zpop{"ZPOPMIN", key, "64"};
                    drain.push_back(std::move(zpop));
                }
                std::vector<Reply> batches;
                try {
                    batches = co_await client.pipeline(std::move(drain));
                } catch (std::exception const&) {
                    self->receiver_ids[shard] = 0;
                    break;
                }
                std::size_t got = 0;
                for (std::size_t b = 0; b < batches.size() && b < asked.size(); ++b) {
                    auto const& batch = batches[b];
                    for (std::size_t i = 0; i + 1 < batch.elements.size(); i += 2) {
                        co_await self->deliver(batch.elements[i].str, asked[b]);
                        ++got;
                    }
                }
                if (got == 0 || self->stopping) {
                    break;
                }
            }
        }
        self->loop_running[shard] = false;
    }

    /** A message from Redis and the local channels that had no room for it. */
    struct Blocked {
        Message message;
        std::vector<std::string> channels;
    };

    // Hands a message from Redis to its local channels; the full ones are returned, and the
    // receive loop waits for their room before it pops more (so Redis holds the backlog and
    // the senders' group_send feels it), up to backpressure_timeout.
    std::optional<Blocked> dispatch(std::string const& payload, std::string const& key) {
        auto const opened = open_payload(payload, key);
        if (!opened) {
            return std::nullopt;
        }
        DecodedPayload decoded;
        try {
            decoded = decode_payload(*opened);
        } catch (std::exception const& e) {
            if (malformed.fetch_add(1, std::memory_order_relaxed) < 10) {
                detail::log_warning(std::string("redis layer: skipped a message: ") + e.what());
            }
            return std::nullopt;
        }
        received.fetch_add(1, std::memory_order_relaxed);
        Message message(std::move(decoded.message));
        std::optional<Blocked> blocked;
        for (auto const& channel : decoded.channels) {
            if (!offer_local(*local, channel, message)) {
                if (!blocked) {
                    blocked.emplace(Blocked{message, {}});
                }
                blocked->channels.push_back(channel);
            }
        }
        return blocked;
    }

    awaitable<void> deliver(std::string const& payload, std::string const& key) {
        auto blocked = dispatch(payload, key);
        if (blocked) {
            co_await offer_local_waiting(local, std::move(blocked->channels),
                                         std::move(blocked->message));
        }
    }

    // A receive() on a channel that is not process-specific: popped from Redis directly,
    // on a connection of its own (BZPOPMIN blocks the connection).
    static awaitable<Message> receive_normal_op(std::shared_ptr<RedisLayerState> self,
                                                std::string channel) {
        auto const cancellation = co_await net::this_coro::cancellation_state;
        auto const shard = self->receive_rr++ % self->shards();
        redis::Client client(self->ex, self->urls[shard], self->client_options);
        co_await client.connect();
        auto const key = self->settings.prefix + channel;
        auto const poll = self->settings.receive_poll;
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, "%.3f", std::chrono::duration<double>(poll).count());
        for (;;) {
            Command pop{"BZPOPMIN", key, seconds};
            auto reply = co_await client.command(std::move(pop), poll);
            if (reply.kind == Reply::Kind::array && reply.elements.size() >= 3) {
                auto const opened = self->open_payload(reply.elements[1].str, key);
                if (opened) {
                    auto decoded = decode_payload(*opened);
                    co_return Message(std::move(decoded.message));
                }
                // Not decryptable: dropped, logged and counted; wait for the next one.
            }
            if (cancellation.cancelled() != net::cancellation_type::none || self->stopping) {
                throw boost::system::system_error(net::error::operation_aborted);
            }
        }
    }

    static awaitable<void> flush_op(std::shared_ptr<RedisLayerState> self) {
        for (std::size_t shard = 0; shard < self->shards(); ++shard) {
            auto* c = co_await self->client(shard);
            std::vector<std::string> keys;
            std::vector<std::string> args{self->settings.prefix + "*"};
            co_await c->eval(self->flush_script, std::move(keys), std::move(args));
        }
        self->memberships.clear();
        if (self->presence) {
            self->presence->forget();
        }
        flush_local(*self->local);
    }

    static awaitable<void> connect_all(std::shared_ptr<RedisLayerState> self) {
        for (std::size_t shard = 0; shard < self->shards(); ++shard) {
            co_await self->clients[shard]->connect();
            Command ping{"PING"};
            co_await self->clients[shard]->command(std::move(ping));
        }
    }
};

} // namespace detail

namespace {

// Runs `op` on the layer's thread; the caller resumes on its own executor.
// Connection trouble (Redis down, lost, stalled past command_timeout) reaches the layer's
// callers as LayerUnavailable; the layer's own errors pass as they are.
[[noreturn]] void rethrow_as_unavailable(redis::ConnectionError const& e) {
    throw LayerUnavailable(e.what());
}

template <typename T>
awaitable<T> on_layer(net::any_io_executor ex, awaitable<T> op) {
    try {
        co_return co_await net::co_spawn(ex, std::move(op), use_awaitable);
    } catch (redis::ConnectionError const& e) {
        rethrow_as_unavailable(e);
    }
}

awaitable<void> on_layer(net::any_io_executor ex, awaitable<void> op) {
    try {
        co_await net::co_spawn(ex, std::move(op), use_awaitable);
    } catch (redis::ConnectionError const& e) {
        rethrow_as_unavailable(e);
    }
}

} // namespace

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
    // One thread runs the layer: once this runs, every post it began before has returned.
    auto reached = std::make_shared<std::promise<void>>();
    auto future = reached->get_future();
    net::post(impl_->ctx, [reached] { reached->set_value(); });
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
    return on_layer(impl_->state->ex, std::move(op));
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
    return on_layer(s->ex, std::move(op));
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
    if (prefix.size() > max_prefix_length || !ChannelLayer::is_valid_group_name(prefix)) {
        throw InvalidName("channel prefix '" + prefix.substr(0, 120) +
                          "' is invalid: only ASCII letters, digits, '-', '_' and '.' are "
                          "allowed, at most " +
                          std::to_string(max_prefix_length) + " characters");
    }
    auto op = detail::RedisLayerState::new_channel_op(impl_->state, std::move(prefix));
    return on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisChannelLayer::group_add(std::string group, std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    auto op =
        detail::RedisLayerState::group_add_op(impl_->state, std::move(group), std::move(channel));
    return on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisChannelLayer::group_discard(std::string group, std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    auto op = detail::RedisLayerState::group_discard_op(impl_->state, std::move(group),
                                                        std::move(channel));
    return on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisChannelLayer::group_send(std::string group, Message message) {
    ChannelLayer::require_valid_group_name(group);
    auto op =
        detail::RedisLayerState::group_send_op(impl_->state, std::move(group), std::move(message));
    return timed_group_send(on_layer(impl_->state->ex, std::move(op)));
}

awaitable<void> RedisChannelLayer::presence_track(std::string group, std::string channel,
                                                  boost::json::object meta) {
    auto text = detail::check_presence(group, channel, meta);
    auto op = detail::RedisPresence::track(impl_->state->presence, std::move(group),
                                           std::move(channel), std::move(text));
    return on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisChannelLayer::presence_untrack(std::string group, std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    auto op = detail::RedisPresence::untrack(impl_->state->presence, std::move(group),
                                             std::move(channel));
    return on_layer(impl_->state->ex, std::move(op));
}

awaitable<std::vector<PresenceEntry>> RedisChannelLayer::group_members(std::string group) {
    ChannelLayer::require_valid_group_name(group);
    auto op = detail::RedisPresence::members(impl_->state->presence, std::move(group));
    return on_layer(impl_->state->ex, std::move(op));
}

awaitable<void> RedisChannelLayer::flush() {
    auto op = detail::RedisLayerState::flush_op(impl_->state);
    return on_layer(impl_->state->ex, std::move(op));
}

LayerStats RedisChannelLayer::layer_stats() const {
    auto out = ChannelLayer::layer_stats();
    auto const& s = *impl_->state;
    for (auto const& c : s.clients) {
        detail::add_connection_stats(out, *c);
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
    for (auto const& c : s.clients) {
        out.round_trips += c->round_trips();
    }
    out.group_sends = s.group_sends.load(std::memory_order_relaxed);
    out.dropped_over_capacity = s.dropped_over_capacity.load(std::memory_order_relaxed);
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
