// The Lua scripts of the Redis layer (RedisChannelLayer): one round trip each, run by
// redis-server atomically. They touch channels_redis' keys only, in its formats.
#pragma once

namespace canal::detail::redis_scripts {

// Deletes every old message of each key, then adds one message per key unless the key is
// at its capacity; returns the (1-based) indices of the keys that were full. channels_redis
// runs the clean-up as a separate pipeline first; one script is one round trip.
inline constexpr char const* group_send = R"lua(
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
// Returns {members, channels skipped because their key was full, full keys}, then for each
// full key: the key, its packed channel list and its channel count (the sender tries those
// again), then the keys it added the message to (a pipelined sender checks those against
// earlier messages still waiting for room: redis_group_send.hpp).
inline constexpr char const* group_send_one_trip = R"lua(
local prefix = ARGV[1]
local random = ARGV[2]
local head = ARGV[3]
local now = ARGV[4]
local expiry = ARGV[5]
local cutoff = ARGV[6]
local capacity = tonumber(ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[7])
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local find = string.find
local sub = string.sub
local buckets = {}
local order = {}
-- The first few processes' names, matched in place: no new string per member.
local known = {}
for _, channel in ipairs(members) do
    local bucket = nil
    for i = 1, #known do
        if find(channel, known[i][1], 1, true) == 1 then
            bucket = known[i][2]
            break
        end
    end
    if not bucket then
        local bang = find(channel, '!', 1, true)
        local name = bang and sub(channel, 1, bang) or channel
        bucket = buckets[name]
        if not bucket then
            bucket = {}
            buckets[name] = bucket
            order[#order + 1] = name
            if bang and #known < 8 then
                known[#known + 1] = {name, bucket}
            end
        end
    end
    bucket[#bucket + 1] = channel
end
local dropped = 0
local full = {}
local added = {}
for _, name in ipairs(order) do
    local bucket = buckets[name]
    local key = prefix .. name
    redis.call('ZREMRANGEBYSCORE', key, 0, cutoff)
    if redis.call('ZCOUNT', key, '-inf', '+inf') < capacity then
        redis.call('ZADD', key, now, random .. head .. cmsgpack.pack(bucket))
        redis.call('EXPIRE', key, expiry)
        added[#added + 1] = key
    else
        dropped = dropped + #bucket
        full[#full + 1] = key
        full[#full + 1] = cmsgpack.pack(bucket)
        full[#full + 1] = #bucket
    end
end
local out = {#members, dropped, #full / 3}
for _, v in ipairs(full) do
    out[#out + 1] = v
end
for _, key in ipairs(added) do
    out[#out + 1] = key
end
return out
)lua";

// send(): the same steps for one key; returns 0 when the channel is full.
inline constexpr char const* send = R"lua(
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[3])
if redis.call('ZCOUNT', KEYS[1], '-inf', '+inf') >= tonumber(ARGV[4]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
)lua";

// flush(): channels_redis' deletion of every key with the prefix.
inline constexpr char const* flush = R"lua(
local keys = redis.call('keys', ARGV[1])
for i = 1, #keys, 5000 do
    redis.call('del', unpack(keys, i, math.min(i + 4999, #keys)))
end
return #keys
)lua";

} // namespace canal::detail::redis_scripts
