// Presence in Redis (see redis_presence.hpp): the scripts, the operations and the
// renew-and-sweep loop.
#include "layers/redis_presence.hpp"

#include "detail/log.hpp"
#include "layers/on_layer.hpp"
#include "layers/presence.hpp"
#include "layers/redis_scripts.hpp"

#include <canal/core/errors.hpp>

#include <boost/json/parse.hpp>

#include <algorithm>

namespace canal::detail {

namespace {

using redis::Reply;

// Redis' clock, in milliseconds: every process's deadlines are on the same clock.
constexpr char const* now_ms_lua = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function extend(key, ms)
  local left = redis.call('PTTL', key)
  if left < ms then redis.call('PEXPIRE', key, ms) end
end
)lua";

// KEYS: hash, deadlines. ARGV: channel, meta, member, ttl (ms).
constexpr char const* track_body = R"lua(
local ttl = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
extend(KEYS[1], 3 * ttl)
extend(KEYS[2], 3 * ttl)
return 1
)lua";

// KEYS: hash, deadlines. ARGV: channel, member. The meta it had, or nil.
constexpr char const* untrack_lua = R"lua(
local meta = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return meta
)lua";

// KEYS: hash, deadlines. ARGV: group. (group, channel, meta) triples not expired.
constexpr char const* members_body = R"lua(
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local d = redis.call('ZSCORE', KEYS[2], ARGV[1] .. ' ' .. all[i])
  if d and tonumber(d) >= now then
    out[#out + 1] = ARGV[1]
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
)lua";

// KEYS: deadlines, then one hash per member. ARGV: ttl (ms), then the members. Renews
// those still present; returns the members that are gone (swept, or their hash lost).
constexpr char const* renew_body = R"lua(
local ttl = tonumber(ARGV[1])
local missing = {}
for i = 2, #ARGV do
  local m = ARGV[i]
  local sp = string.find(m, ' ', 1, true)
  local channel = string.sub(m, sp + 1)
  if redis.call('ZSCORE', KEYS[1], m) and redis.call('HEXISTS', KEYS[i], channel) == 1 then
    redis.call('ZADD', KEYS[1], now + ttl, m)
    extend(KEYS[i], 3 * ttl)
  else
    missing[#missing + 1] = m
  end
end
extend(KEYS[1], 3 * ttl)
return missing
)lua";

// KEYS: deadlines. ARGV: hash key prefix, limit. Removes up to `limit` expired entries and
// returns them as (group, channel, meta) triples.
constexpr char const* sweep_body = R"lua(
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, m in ipairs(expired) do
  redis.call('ZREM', KEYS[1], m)
  local sp = string.find(m, ' ', 1, true)
  if sp then
    local group = string.sub(m, 1, sp - 1)
    local channel = string.sub(m, sp + 1)
    local hk = ARGV[1] .. group
    local meta = redis.call('HGET', hk, channel)
    if meta then
      redis.call('HDEL', hk, channel)
      out[#out + 1] = group
      out[#out + 1] = channel
      out[#out + 1] = meta
    end
  end
end
return out
)lua";

constexpr std::size_t sweep_limit = 500;

std::string with_clock(char const* body) { return std::string(now_ms_lua) + body; }

void require_ok(Reply const& r, std::string_view what) {
    if (r.is_error()) {
        throw Error("Redis: presence " + std::string(what) + " failed: " + r.str);
    }
}

} // namespace

std::string presence_hash_key(std::string_view prefix, std::string_view group) {
    return std::string(prefix) + ":presence:" + std::string(group);
}

std::string presence_deadlines_key(std::string_view prefix) {
    return std::string(prefix) + ":presence-deadlines";
}

std::string presence_member(std::string_view group, std::string_view channel) {
    return std::string(group) + " " + std::string(channel);
}

std::vector<PresenceRecord> parse_presence_triples(Reply const& reply) {
    if (reply.kind == Reply::Kind::nil) {
        return {};
    }
    if (reply.kind != Reply::Kind::array || reply.elements.size() % 3 != 0) {
        throw Error("Redis: a presence reply that is not (group, channel, meta) triples");
    }
    std::vector<PresenceRecord> out;
    for (std::size_t i = 0; i + 2 < reply.elements.size(); i += 3) {
        auto const& g = reply.elements[i];
        auto const& c = reply.elements[i + 1];
        auto const& m = reply.elements[i + 2];
        if (g.kind != Reply::Kind::string || c.kind != Reply::Kind::string ||
            m.kind != Reply::Kind::string) {
            throw Error("Redis: a presence reply with an element that is not a string");
        }
        boost::system::error_code ec;
        auto const v = boost::json::parse(m.str, ec);
        if (ec || !v.is_object()) {
            continue; // not written by canal: skipped
        }
        out.push_back(PresenceRecord{g.str, c.str, m.str});
    }
    return out;
}

std::vector<std::pair<std::string, Message>> leave_diffs(std::vector<PresenceRecord> const& gone) {
    std::vector<std::pair<std::string, boost::json::object>> by_group;
    for (auto const& r : gone) {
        auto it = std::find_if(by_group.begin(), by_group.end(),
                               [&](auto const& p) { return p.first == r.group; });
        if (it == by_group.end()) {
            by_group.emplace_back(r.group, boost::json::object());
            it = std::prev(by_group.end());
        }
        it->second[r.channel] = boost::json::parse(r.meta);
    }
    std::vector<std::pair<std::string, Message>> out;
    for (auto& [group, leaves] : by_group) {
        out.emplace_back(group, presence_diff(group, boost::json::object(), std::move(leaves)));
    }
    return out;
}

awaitable<void> presence_track_on(net::any_io_executor ex, std::shared_ptr<RedisPresence> presence,
                                  std::string group, std::string channel,
                                  boost::json::object meta) {
    auto text = check_presence(group, channel, meta);
    auto op = RedisPresence::track(std::move(presence), std::move(group), std::move(channel),
                                   std::move(text));
    return on_layer(std::move(ex), std::move(op));
}

awaitable<void> presence_untrack_on(net::any_io_executor ex,
                                    std::shared_ptr<RedisPresence> presence, std::string group,
                                    std::string channel) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    auto op = RedisPresence::untrack(std::move(presence), std::move(group), std::move(channel));
    return on_layer(std::move(ex), std::move(op));
}

awaitable<std::vector<PresenceEntry>> group_members_on(net::any_io_executor ex,
                                                       std::shared_ptr<RedisPresence> presence,
                                                       std::string group) {
    ChannelLayer::require_valid_group_name(group);
    auto op = RedisPresence::members(std::move(presence), std::move(group));
    return on_layer(std::move(ex), std::move(op));
}

RedisPresence::RedisPresence(std::string prefix, std::chrono::milliseconds ttl, Hooks hooks)
    : prefix_(std::move(prefix)), ttl_(ttl), hooks_(std::move(hooks)),
      track_script_(with_clock(track_body)), untrack_script_(untrack_lua),
      members_script_(with_clock(members_body)), renew_script_(with_clock(renew_body)),
      sweep_script_(with_clock(sweep_body)), erase_script_(redis_scripts::flush) {}

awaitable<void> RedisPresence::erase_all(std::shared_ptr<RedisPresence> self) {
    self->forget();
    // Matches PREFIX:presence:GROUP and PREFIX:presence-deadlines (a prefix has no globs).
    auto const pattern = self->prefix_ + ":presence*";
    for (std::size_t shard = 0; shard < self->hooks_.shards; ++shard) {
        auto* c = co_await self->hooks_.client(shard);
        std::vector<std::string> keys;
        std::vector<std::string> args{pattern};
        co_await c->eval(self->erase_script_, std::move(keys), std::move(args));
    }
}

awaitable<void> RedisPresence::track(std::shared_ptr<RedisPresence> self, std::string group,
                                     std::string channel, std::string meta) {
    auto const shard = self->hooks_.shard_of(group);
    std::vector<std::string> keys{presence_hash_key(self->prefix_, group),
                                  presence_deadlines_key(self->prefix_)};
    std::vector<std::string> args{channel, meta, presence_member(group, channel),
                                  std::to_string(self->ttl_.count())};
    auto* c = co_await self->hooks_.client(shard);
    auto reply = co_await c->eval(self->track_script_, std::move(keys), std::move(args));
    require_ok(reply, "track");
    self->tracked_[group][channel] = meta;
    boost::json::object joins;
    joins[channel] = boost::json::parse(meta);
    auto diff = presence_diff(group, std::move(joins), boost::json::object());
    co_await self->hooks_.group_send(std::move(group), std::move(diff));
}

awaitable<void> RedisPresence::untrack(std::shared_ptr<RedisPresence> self, std::string group,
                                       std::string channel) {
    auto g = self->tracked_.find(group);
    if (g != self->tracked_.end()) {
        g->second.erase(channel);
        if (g->second.empty()) {
            self->tracked_.erase(g);
        }
    }
    auto const shard = self->hooks_.shard_of(group);
    std::vector<std::string> keys{presence_hash_key(self->prefix_, group),
                                  presence_deadlines_key(self->prefix_)};
    std::vector<std::string> args{channel, presence_member(group, channel)};
    auto* c = co_await self->hooks_.client(shard);
    auto reply = co_await c->eval(self->untrack_script_, std::move(keys), std::move(args));
    require_ok(reply, "untrack");
    if (reply.kind != Reply::Kind::string) {
        co_return; // it was not there
    }
    boost::system::error_code ec;
    auto parsed = boost::json::parse(reply.str, ec);
    if (ec || !parsed.is_object()) {
        co_return; // not an entry this layer wrote: no leave to tell
    }
    boost::json::object leaves;
    leaves[channel] = std::move(parsed);
    auto diff = presence_diff(group, boost::json::object(), std::move(leaves));
    co_await self->hooks_.group_send(std::move(group), std::move(diff));
}

awaitable<std::vector<PresenceEntry>> RedisPresence::members(std::shared_ptr<RedisPresence> self,
                                                             std::string group) {
    auto const shard = self->hooks_.shard_of(group);
    std::vector<std::string> keys{presence_hash_key(self->prefix_, group),
                                  presence_deadlines_key(self->prefix_)};
    std::vector<std::string> args{group};
    auto* c = co_await self->hooks_.client(shard);
    auto reply = co_await c->eval(self->members_script_, std::move(keys), std::move(args));
    require_ok(reply, "members");
    std::vector<PresenceEntry> out;
    for (auto& r : parse_presence_triples(reply)) {
        out.push_back(PresenceEntry{std::move(r.channel), boost::json::parse(r.meta).as_object()});
    }
    co_return out;
}

awaitable<void> RedisPresence::renew(std::size_t shard) {
    std::vector<std::string> keys{presence_deadlines_key(prefix_)};
    std::vector<std::string> args{std::to_string(ttl_.count())};
    for (auto const& [group, channels] : tracked_) {
        if (hooks_.shard_of(group) != shard) {
            continue;
        }
        for (auto const& entry : channels) {
            keys.push_back(presence_hash_key(prefix_, group));
            args.push_back(presence_member(group, entry.first));
        }
    }
    if (args.size() == 1) {
        co_return;
    }
    auto* c = co_await hooks_.client(shard);
    auto reply = co_await c->eval(renew_script_, std::move(keys), std::move(args));
    require_ok(reply, "renew");
    // Entries swept while this process was away (a stall, a lost connection): tracked
    // again, which tells their groups they are back.
    for (auto const& m : reply.elements) {
        auto const sp = m.str.find(' ');
        if (sp == std::string::npos) {
            continue;
        }
        auto group = m.str.substr(0, sp);
        auto channel = m.str.substr(sp + 1);
        auto g = tracked_.find(group);
        if (g == tracked_.end() || !g->second.contains(channel)) {
            continue;
        }
        auto meta = g->second[channel];
        co_await track(shared_from_this(), std::move(group), std::move(channel), std::move(meta));
    }
}

awaitable<void> RedisPresence::sweep(std::size_t shard) {
    std::vector<std::string> keys{presence_deadlines_key(prefix_)};
    std::vector<std::string> args{prefix_ + ":presence:", std::to_string(sweep_limit)};
    auto* c = co_await hooks_.client(shard);
    auto reply = co_await c->eval(sweep_script_, std::move(keys), std::move(args));
    require_ok(reply, "sweep");
    auto gone = parse_presence_triples(reply);
    if (gone.empty()) {
        co_return;
    }
    auto diffs = leave_diffs(gone);
    for (auto& [group, diff] : diffs) {
        co_await hooks_.group_send(group, std::move(diff));
    }
}

awaitable<void> RedisPresence::run(std::shared_ptr<RedisPresence> self) {
    self->timer_ = std::make_unique<net::steady_timer>(co_await net::this_coro::executor);
    auto const period = std::max(std::chrono::milliseconds(10), self->ttl_ / 3);
    while (!self->stopped_) {
        self->timer_->expires_after(period);
        co_await self->timer_->async_wait(use_nothrow); // cancelled by stop()
        if (self->stopped_) {
            co_return;
        }
        bool failed = false;
        std::string why;
        for (std::size_t shard = 0; shard < self->hooks_.shards && !self->stopped_; ++shard) {
            try {
                co_await self->renew(shard);
                co_await self->sweep(shard);
            } catch (std::exception const& e) {
                failed = true;
                why = e.what();
            }
        }
        if (failed && !self->failing_) {
            log_warning("redis layer: presence renewal failed (" + why +
                        "); entries of this process may expire and come back once Redis "
                        "answers again");
        }
        self->failing_ = failed;
    }
}

void RedisPresence::stop() {
    stopped_ = true;
    if (timer_) {
        timer_->cancel();
    }
}

} // namespace canal::detail
