// The Redis layer's operations: channels_redis 4's storage model over canal's Redis client.
// What to send where is planned in redis_group_send.cpp; the scripts are redis_scripts.hpp.
#include "layers/redis_layer_state.hpp"

#include "detail/crypto.hpp"
#include "detail/log.hpp"
#include "layers/presence.hpp"
#include "layers/redis_scripts.hpp"

#include <canal/core/errors.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace canal::detail {

namespace {

using redis::Command;
using redis::Reply;

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// 32 hex digits from OpenSSL's CSPRNG: a channel name must not be guessable.
std::string random_name_part() { return to_hex(random_bytes_cached(16)); }

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

std::optional<MultiFernet> make_crypter(RedisLayerSettings const& s) {
    if (s.symmetric_encryption_keys.empty()) {
        return std::nullopt;
    }
    return MultiFernet::from_channels_redis_keys(s.symmetric_encryption_keys);
}

// channels_redis' random prefix is 12 bytes; it stays in the clear when encrypting.
constexpr std::size_t payload_prefix_size = 12;

// One shard's part of a group_send, started by a parallel group.
using ShardOp = decltype(net::co_spawn(std::declval<net::any_io_executor>(),
                                       std::declval<awaitable<void>>(), net::deferred));

} // namespace

RedisLayerState::RedisLayerState(net::any_io_executor executor, RedisLayerSettings s)
    : settings(checked(std::move(s))), capacities(settings.channel_capacity, settings.capacity),
      crypter(make_crypter(settings)), ex(std::move(executor)),
      local(make_local_channels(settings)), rng(std::random_device{}()),
      send_script(redis_scripts::send), group_send_script(redis_scripts::group_send),
      group_send_one_trip_script(redis_scripts::group_send_one_trip),
      flush_script(redis_scripts::flush), pipeline_changed(ex) {
    client_options.connect_timeout = settings.connect_timeout;
    client_options.command_timeout = settings.command_timeout;
    for (auto const& host : settings.hosts) {
        Shard shard;
        shard.url = redis::Url::parse(host);
        shard.client = std::make_unique<redis::Client>(ex, shard.url, client_options);
        shards.push_back(std::move(shard));
    }
    client_prefix = random_name_part();
}

std::string RedisLayerState::make_payload(boost::json::object const& message, AsgiChannel to) {
    auto payload = encode_payload(message, to, rng);
    if (!crypter) {
        return payload;
    }
    auto const body = std::string_view(payload).substr(payload_prefix_size);
    return payload.substr(0, payload_prefix_size) + crypter->encrypt(body);
}

std::optional<std::string> RedisLayerState::open_payload(std::string const& payload,
                                                         std::string_view key) {
    if (!crypter) {
        return payload;
    }
    // channels_redis' ttl for decryption: the message expiry plus 10 s.
    auto const ttl = std::chrono::duration_cast<std::chrono::seconds>(settings.expiry) +
                     std::chrono::seconds(10);
    try {
        auto const body =
            std::string_view(payload).substr(std::min(payload_prefix_size, payload.size()));
        return payload.substr(0, payload_prefix_size) + crypter->decrypt(body, ttl);
    } catch (InvalidToken const& e) {
        auto const n = undecryptable.fetch_add(1, std::memory_order_relaxed) + 1;
        if (n <= 10 || n % 1000 == 0) {
            log_warning("redis layer: dropped a message in Redis key '" + std::string(key) +
                        "' that symmetric_encryption_keys cannot decrypt: " + e.what() + " (" +
                        std::to_string(n) + " so far; do both sides use the same keys?)");
        }
        return std::nullopt;
    }
}

std::string RedisLayerState::group_key(std::string_view group) const {
    return settings.prefix + ":group:" + std::string(group);
}

bool RedisLayerState::is_ours(std::string_view channel) const {
    auto const nl = non_local_name(channel);
    return nl.size() > client_prefix.size() + 1 && nl.back() == '!' &&
           nl.substr(nl.size() - 1 - client_prefix.size(), client_prefix.size()) == client_prefix;
}

// ---- start, stop, connections ----

awaitable<redis::Client*> RedisLayerState::presence_client(std::weak_ptr<RedisLayerState> weak,
                                                           std::size_t shard) {
    auto self = weak.lock();
    if (!self || self->stopping) {
        throw Error("redis layer: stopped");
    }
    co_return co_await self->client(shard);
}

awaitable<void> RedisLayerState::presence_group_send(std::weak_ptr<RedisLayerState> weak,
                                                     std::string group, Message message) {
    auto self = weak.lock();
    if (!self || self->stopping) {
        co_return;
    }
    co_await group_send_op(self, std::move(group), std::move(message));
}

void RedisLayerState::start_presence() {
    std::weak_ptr<RedisLayerState> weak = shared_from_this();
    RedisPresence::Hooks hooks;
    auto const n = shard_count();
    hooks.shards = n;
    hooks.shard_of = [n](std::string_view group) { return consistent_hash(group, n); };
    hooks.client = [weak](std::size_t shard) { return presence_client(weak, shard); };
    hooks.group_send = [weak](std::string group, Message message) {
        return presence_group_send(weak, std::move(group), std::move(message));
    };
    presence =
        std::make_shared<RedisPresence>(settings.prefix, settings.presence_ttl, std::move(hooks));
    net::co_spawn(ex, RedisPresence::run(presence),
                  [](std::exception_ptr e) { log_exception("redis layer presence", e); });
}

void RedisLayerState::start() {
    start_presence();
    for (std::size_t i = 0; i < shard_count(); ++i) {
        std::weak_ptr<RedisLayerState> weak = shared_from_this();
        shards[i].client->on_connect([weak, i] {
            if (auto self = weak.lock()) {
                self->restore_memberships(i);
            }
        });
        net::co_spawn(ex, first_connect(shared_from_this(), i), [](std::exception_ptr) {});
    }
}

awaitable<void> RedisLayerState::first_connect(std::shared_ptr<RedisLayerState> self,
                                               std::size_t i) {
    try {
        co_await self->shards[i].client->connect();
    } catch (std::exception const& e) {
        log_warning(std::string("redis layer: ") + e.what() + "; retrying in the background");
    }
}

void RedisLayerState::stop() {
    stopping = true;
    pipeline_changed.notify();
    if (presence) {
        presence->stop();
    }
    for (auto& shard : shards) {
        shard.client->close();
        if (shard.receiver) {
            shard.receiver->close();
        }
        if (shard.pause) {
            shard.pause->cancel();
        }
    }
}

void RedisLayerState::restore_memberships(std::size_t shard) {
    shards[shard].ever_connected = true;
    std::vector<Command> commands;
    auto const now = redis_score(now_seconds());
    auto const expiry = std::to_string(whole_seconds(settings.group_expiry));
    std::size_t channels = 0;
    for (auto const& [group, members] : memberships) {
        if (members.empty() || consistent_hash(group, shard_count()) != shard) {
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
    log_info("redis layer: restoring " + std::to_string(channels) + " group memberships on " +
             shards[shard].url.address());
    net::co_spawn(
        ex, run_pipeline(shared_from_this(), shard, std::move(commands)),
        [](std::exception_ptr ep) { log_exception("redis layer: restoring memberships", ep); });
}

awaitable<void> RedisLayerState::run_pipeline(std::shared_ptr<RedisLayerState> self,
                                              std::size_t shard, std::vector<Command> commands) {
    auto replies = co_await self->shards[shard].client->pipeline(std::move(commands));
    for (auto const& r : replies) {
        if (r.is_error()) {
            throw Error("Redis " + self->shards[shard].url.address() + ": " + r.str);
        }
    }
}

awaitable<redis::Client*> RedisLayerState::client(std::size_t shard) {
    auto& s = shards[shard];
    if (!s.ever_connected && !s.client->connected()) {
        co_await s.client->connect();
    }
    co_return s.client.get();
}

awaitable<void> RedisLayerState::connect_all(std::shared_ptr<RedisLayerState> self) {
    for (auto& shard : self->shards) {
        co_await shard.client->connect();
        Command ping{"PING"};
        co_await shard.client->command(std::move(ping));
    }
}

// ---- operations ----

awaitable<void> RedisLayerState::send_op(std::shared_ptr<RedisLayerState> self, std::string channel,
                                         Message message) {
    auto const specific = channel.find('!') != std::string::npos;
    auto const nl = non_local_name(channel);
    auto key = self->settings.prefix + std::string(nl);
    // Process-specific channels go where their receiver listens: the shard of the
    // non-local name (channels_redis hashes the full name here, #221).
    auto const shard =
        specific ? consistent_hash(nl, self->shard_count()) : self->send_rr++ % self->shard_count();
    AsgiChannel to;
    if (specific) {
        to.single = channel;
    }
    auto const clock = script_clock(now_seconds(), self->settings.expiry);
    auto const capacity = self->capacities.capacity(channel);
    std::vector<std::string> keys{std::move(key)};
    std::vector<std::string> args;
    args.push_back(self->make_payload(message.object(), to));
    args.push_back(clock.now);
    args.push_back(std::to_string(clock.cutoff));
    args.push_back(std::to_string(capacity));
    args.push_back(std::to_string(clock.expiry));
    auto* c = co_await self->client(shard);
    auto reply = co_await c->eval(self->send_script, std::move(keys), std::move(args));
    if (reply.kind == Reply::Kind::integer && reply.integer == 0) {
        throw ChannelFull("channel '" + channel + "' is full (capacity " +
                          std::to_string(capacity) + ")");
    }
}

awaitable<void> RedisLayerState::group_add_op(std::shared_ptr<RedisLayerState> self,
                                              std::string group, std::string channel) {
    auto const shard = consistent_hash(group, self->shard_count());
    auto key = self->group_key(group);
    std::vector<Command> commands;
    Command zadd{"ZADD", key, redis_score(now_seconds()), channel};
    commands.push_back(std::move(zadd));
    Command expire{"EXPIRE", key, std::to_string(whole_seconds(self->settings.group_expiry))};
    commands.push_back(std::move(expire));
    auto* c = co_await self->client(shard);
    auto replies = co_await c->pipeline(std::move(commands));
    for (auto const& r : replies) {
        if (r.is_error()) {
            throw Error("Redis " + self->shards[shard].url.address() +
                        ": group_add failed: " + r.str);
        }
    }
    if (self->is_ours(channel)) {
        self->memberships[group].insert(channel);
    }
}

awaitable<void> RedisLayerState::group_discard_op(std::shared_ptr<RedisLayerState> self,
                                                  std::string group, std::string channel) {
    auto it = self->memberships.find(group);
    if (it != self->memberships.end()) {
        it->second.erase(channel);
        if (it->second.empty()) {
            self->memberships.erase(it);
        }
    }
    auto const shard = consistent_hash(group, self->shard_count());
    Command zrem{"ZREM", self->group_key(group), channel};
    auto* c = co_await self->client(shard);
    co_await c->command(std::move(zrem));
}

awaitable<void> RedisLayerState::group_send_op(std::shared_ptr<RedisLayerState> self,
                                               std::string group, Message message) {
    // The one-trip script appends each key's channel list to a shared msgpack head: an
    // encrypted payload must be built whole here, one per key, as channels_redis does.
    if (self->shard_count() == 1 && self->settings.channel_capacity.empty() && !self->crypter) {
        co_await group_send_one_trip(self, std::move(group), std::move(message));
        co_return;
    }
    auto const group_shard = consistent_hash(group, self->shard_count());
    auto const key = self->group_key(group);
    auto const now = now_seconds();
    auto const group_clock = script_clock(now, self->settings.group_expiry);
    std::vector<Command> lookup;
    Command clean{"ZREMRANGEBYSCORE", key, "0", std::to_string(group_clock.cutoff)};
    lookup.push_back(std::move(clean));
    Command range{"ZRANGE", key, "0", "-1"};
    lookup.push_back(std::move(range));
    auto* gc = co_await self->client(group_shard);
    auto replies = co_await gc->pipeline(std::move(lookup));
    if (replies.size() != 2 || replies[1].kind != Reply::Kind::array) {
        auto const why = replies.size() == 2 ? replies[1].str : std::string("no reply");
        throw Error("Redis " + self->shards[group_shard].url.address() +
                    ": group_send failed reading group '" + group + "': " + why);
    }
    self->group_sends.fetch_add(1, std::memory_order_relaxed);

    std::vector<std::string> members;
    members.reserve(replies[1].elements.size());
    for (auto& member : replies[1].elements) {
        members.push_back(std::move(member.str));
    }
    auto buckets = plan_group_send(std::move(members), self->settings.prefix, self->capacities,
                                   self->shard_count());
    if (buckets.empty()) {
        co_return;
    }
    auto const clock = script_clock(now, self->settings.expiry);
    // One script per target shard, all written at once; waits for every one of them.
    std::vector<ShardOp> ops;
    for (auto& [shard, mine] : buckets_by_shard(buckets)) {
        std::vector<std::string> keys;
        std::vector<std::string> payloads;
        std::vector<std::size_t> capacities;
        std::vector<std::size_t> counts;
        for (auto i : mine) {
            keys.push_back(buckets[i].key);
            AsgiChannel to;
            to.list = &buckets[i].channels;
            payloads.push_back(self->make_payload(message.object(), to));
            capacities.push_back(buckets[i].capacity);
            counts.push_back(buckets[i].channels.size());
        }
        auto args = group_send_args(std::move(payloads), capacities, clock);
        auto op =
            send_to_shard(self, shard, group, std::move(keys), std::move(args), std::move(counts));
        ops.push_back(net::co_spawn(self->ex, std::move(op), net::deferred));
    }
    auto group_of_ops = net::experimental::make_parallel_group(std::move(ops));
    auto const condition = net::experimental::wait_for_all();
    auto outcome = co_await group_of_ops.async_wait(condition, use_awaitable);
    for (auto const& failure : std::get<1>(outcome)) {
        if (failure) {
            std::rethrow_exception(failure);
        }
    }
}

awaitable<void> RedisLayerState::group_send_one_trip(std::shared_ptr<RedisLayerState> self,
                                                     std::string group, Message message) {
    auto const now = now_seconds();
    auto const clock = script_clock(now, self->settings.expiry);
    auto const group_clock = script_clock(now, self->settings.group_expiry);
    auto head = encode_payload_head(message.object());
    std::vector<std::string> keys{self->group_key(group)};
    std::vector<std::string> args;
    args.push_back(self->settings.prefix);
    args.push_back(unique_prefix(self->rng, payload_prefix_size));
    args.push_back(head);
    args.push_back(clock.now);
    args.push_back(std::to_string(clock.expiry));
    args.push_back(std::to_string(clock.cutoff));
    args.push_back(std::to_string(group_clock.cutoff));
    args.push_back(std::to_string(self->settings.capacity));
    auto* c = co_await self->client(0);
    auto const window = self->settings.group_send_pipeline;
    if (window > 0) {
        // In order behind the messages waiting for room, and at most `window` unanswered.
        while ((self->retrying || self->pipelined >= window) && !self->stopping) {
            co_await self->pipeline_changed.wait();
        }
        // Pipelined only once this connection has run the script (EVALSHA finds it): the
        // NOSCRIPT fallback's second request could overtake the messages queued behind it.
        if (c->connected() && !self->stopping && self->one_trip_loaded == c->reconnects() + 1) {
            // Spawned in call order on the layer's thread: the scripts are written in the
            // order of the group_send()s, and Redis runs them in that order.
            ++self->pipelined;
            auto answer = pipelined_answer(self, std::move(group), std::move(head),
                                           std::move(keys), std::move(args));
            net::co_spawn(self->ex, std::move(answer), [](std::exception_ptr ep) {
                log_exception("redis layer: group_send answer", ep);
            });
            co_return;
        }
        // Not connected: the call fails (or succeeds) here, where the caller sees it.
    }
    auto const generation = c->reconnects() + 1;
    auto reply =
        co_await c->eval(self->group_send_one_trip_script, std::move(keys), std::move(args));
    self->one_trip_loaded = generation;
    self->group_sends.fetch_add(1, std::memory_order_relaxed);
    auto answer = parse_one_trip(std::move(reply));
    if (answer.full.empty()) {
        co_return;
    }
    // Members whose Redis queue was full: wait for room there (backpressure), as the
    // in-memory layer does, instead of skipping them.
    auto const deadline = std::chrono::steady_clock::now() + self->settings.backpressure_timeout;
    co_await retry_full(self, 0, std::move(group), self->one_trip_retry(answer, head), deadline);
}

GroupSendRetry RedisLayerState::one_trip_retry(OneTripAnswer& answer, std::string const& head) {
    GroupSendRetry retry;
    for (auto& full : answer.full) {
        retry.keys.push_back(std::move(full.key));
        retry.payloads.push_back(unique_prefix(rng, payload_prefix_size) + head +
                                 full.packed_channels);
        retry.capacities.push_back(settings.capacity);
        retry.counts.push_back(full.channels);
    }
    return retry;
}

awaitable<void> RedisLayerState::pipelined_answer(std::shared_ptr<RedisLayerState> self,
                                                  std::string group, std::string head,
                                                  std::vector<std::string> keys,
                                                  std::vector<std::string> args) {
    Command evalsha{"EVALSHA", self->group_send_one_trip_script.sha1(),
                    std::to_string(keys.size())};
    evalsha.insert(evalsha.end(), std::make_move_iterator(keys.begin()),
                   std::make_move_iterator(keys.end()));
    evalsha.insert(evalsha.end(), std::make_move_iterator(args.begin()),
                   std::make_move_iterator(args.end()));
    redis::Reply reply;
    std::string failure;
    try {
        auto* c = co_await self->client(0);
        reply = co_await c->command(std::move(evalsha));
    } catch (std::exception const& e) {
        failure = e.what();
    }
    if (failure.find("NOSCRIPT") != std::string::npos) {
        self->one_trip_loaded = 0; // Redis lost its scripts: the next group_send loads it
    }
    --self->pipelined;
    self->pipeline_changed.notify();
    if (!failure.empty()) {
        // group_send() has returned: the log and the counter are what is left to tell.
        auto const n = self->group_sends_failed.fetch_add(1, std::memory_order_relaxed);
        if (n % 1000 == 0 && !self->stopping) {
            log_warning("redis layer: group_send to '" + group + "' was sent and not answered (" +
                        failure + "); it may not have reached its members (counted in "
                        "stats().group_sends_failed)");
        }
        co_return;
    }
    self->group_sends.fetch_add(1, std::memory_order_relaxed);
    auto answer = parse_one_trip(std::move(reply));
    auto retry = self->one_trip_retry(answer, head);
    auto given_up = self->pending_retries.answer(std::move(group), std::move(retry), answer.added);
    for (auto const& g : given_up) {
        self->dropped_over_capacity.fetch_add(g.channels, std::memory_order_relaxed);
        if (self->overflow_reports.fetch_add(1, std::memory_order_relaxed) % 1000 == 0) {
            log_warning("redis layer: group_send to '" + g.group + "': " +
                        std::to_string(g.channels) +
                        " member channel(s) were full in Redis, and a later message got in "
                        "first; this one was not queued for them (counted in dropped_count())");
        }
    }
    if (!self->pending_retries.empty() && !self->retrying) {
        self->retrying = true;
        net::co_spawn(self->ex, run_pending_retries(self), [self](std::exception_ptr ep) {
            // Connection trouble while trying again: what still waits is given up.
            if (ep) {
                log_exception("redis layer: group_send, trying full keys again", ep);
            }
            auto const lost = self->pending_retries.channels();
            self->pending_retries.take();
            self->dropped_over_capacity.fetch_add(lost, std::memory_order_relaxed);
            self->retrying = false;
            self->pipeline_changed.notify();
        });
    }
}

awaitable<void> RedisLayerState::run_pending_retries(std::shared_ptr<RedisLayerState> self) {
    // Every message sent before these must be answered first: one that got into a full key
    // meanwhile gives up the waiting ones (PendingRetries), so none is delivered out of order.
    while (self->pipelined > 0) {
        co_await self->pipeline_changed.wait();
    }
    auto const deadline = std::chrono::steady_clock::now() + self->settings.backpressure_timeout;
    for (auto& waiting : self->pending_retries.take()) {
        co_await retry_full(self, 0, std::move(waiting.group), std::move(waiting.retry), deadline);
    }
}

awaitable<void> RedisLayerState::pipeline_idle(std::shared_ptr<RedisLayerState> self) {
    while ((self->pipelined > 0 || self->retrying) && !self->stopping) {
        co_await self->pipeline_changed.wait();
    }
}

awaitable<void> RedisLayerState::retry_full(std::shared_ptr<RedisLayerState> self,
                                            std::size_t shard, std::string group,
                                            GroupSendRetry retry,
                                            std::chrono::steady_clock::time_point deadline) {
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
                log_warning("redis layer: group_send to '" + group + "': " + std::to_string(lost) +
                            " member channel(s) stayed full in Redis for " +
                            std::to_string(self->settings.backpressure_timeout.count()) +
                            " ms; the message was not queued for them (counted in "
                            "dropped_count())");
            }
            co_return;
        }
        pause.expires_after(backoff);
        co_await pause.async_wait(use_nothrow);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(50));
        auto args = group_send_args(retry.payloads, retry.capacities,
                                    script_clock(now_seconds(), self->settings.expiry));
        auto keys = retry.keys;
        auto* c = co_await self->client(shard);
        auto reply = co_await c->eval(self->group_send_script, std::move(keys), std::move(args));
        GroupSendRetry still;
        for (auto k : full_positions(reply, retry.keys.size())) {
            still.keys.push_back(std::move(retry.keys[k]));
            still.payloads.push_back(std::move(retry.payloads[k]));
            still.capacities.push_back(retry.capacities[k]);
            still.counts.push_back(retry.counts[k]);
        }
        retry = std::move(still);
    }
}

awaitable<void> RedisLayerState::send_to_shard(std::shared_ptr<RedisLayerState> self,
                                               std::size_t shard, std::string group,
                                               std::vector<std::string> keys,
                                               std::vector<std::string> args,
                                               std::vector<std::size_t> counts) {
    auto* c = co_await self->client(shard);
    auto const n = keys.size();
    auto reply = co_await c->eval(self->group_send_script, keys, args);
    GroupSendRetry retry;
    for (auto k : full_positions(reply, n)) {
        retry.keys.push_back(keys[k]);
        retry.payloads.push_back(args[k]);
        retry.capacities.push_back(std::stoull(args[n + k]));
        retry.counts.push_back(counts[k]);
    }
    if (!retry.keys.empty()) {
        auto const deadline =
            std::chrono::steady_clock::now() + self->settings.backpressure_timeout;
        co_await retry_full(self, shard, std::move(group), std::move(retry), deadline);
    }
}

awaitable<std::string> RedisLayerState::new_channel_op(std::shared_ptr<RedisLayerState> self,
                                                       std::string prefix) {
    auto non_local = prefix + "." + self->client_prefix + "!";
    auto name = non_local + random_name_part();
    auto const index = consistent_hash(non_local, self->shard_count());
    auto& shard = self->shards[index];
    auto key = self->settings.prefix + non_local;
    auto& keys = shard.local_keys;
    bool const added = std::find(keys.begin(), keys.end(), key) == keys.end();
    if (added) {
        keys.push_back(std::move(key));
    }
    bool const was_running = shard.loop_running;
    self->ensure_receive_loop(index);
    if (added && was_running && shard.receiver_id > 0) {
        // The loop waits in BZPOPMIN on the keys it knew: wake it, so that it waits on
        // this one too instead of after receive_poll.
        net::co_spawn(self->ex, unblock(self, index, shard.receiver_id), [](std::exception_ptr) {
            // Best effort: without it the loop sees the key next poll.
        });
    }
    co_return name;
}

awaitable<void> RedisLayerState::flush_op(std::shared_ptr<RedisLayerState> self) {
    for (std::size_t shard = 0; shard < self->shard_count(); ++shard) {
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

} // namespace canal::detail
