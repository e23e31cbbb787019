// group_send()'s plan on the Redis layer, sans I/O: which Redis key carries which member
// channels and on which shard, what the scripts are given, and what their answers mean.
// Tested without a redis-server (tests/redis/group_send_plan_test.cpp).
#pragma once

#include "layers/capacity_table.hpp"

#include <canal/redis/reply.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace canal::detail {

/** One message of a group_send: a Redis key and the member channels it is for. */
struct GroupSendBucket {
    /** The layer's prefix followed by the channels' non-local name. */
    std::string key;
    /** The members behind the key (a process's specific channels share one), in group order. */
    std::vector<std::string> channels;
    /** The key's capacity: that of its first channel (channel_capacity patterns). */
    std::size_t capacity = 0;
    /** The shard the key lives on (consistent hash of the non-local name). */
    std::size_t shard = 0;
};

/**
 * Groups `members` (the group's channels, as ZRANGE returned them) by Redis key, in order
 * of first appearance, as channels_redis does: one message per key, with the list of its
 * channels in `__asgi_channel__`.
 */
std::vector<GroupSendBucket> plan_group_send(std::vector<std::string> members,
                                             std::string_view prefix,
                                             CapacityTable const& capacities, std::size_t shards);

/** The buckets (indices into `buckets`) of each shard that has any, by shard number. */
std::vector<std::pair<std::size_t, std::vector<std::size_t>>>
buckets_by_shard(std::vector<GroupSendBucket> const& buckets);

/** The clock arguments the scripts share. */
struct ScriptClock {
    /** Now, as a sorted-set score (seconds since the epoch, 6 decimals). */
    std::string now;
    /** The keys' time to live in whole seconds. */
    long long expiry = 0;
    /** Messages scored at or below this (whole seconds) have expired. */
    long long cutoff = 0;
};

/** The clock for `now` (seconds since the epoch) and a message expiry. */
ScriptClock script_clock(double now, std::chrono::milliseconds expiry);

/** Seconds since the epoch, as a Redis score with 6 decimals. */
std::string redis_score(double seconds);

/** Whole seconds of `d`, at least 1 (Redis expires keys in whole seconds). */
long long whole_seconds(std::chrono::milliseconds d);

/**
 * ARGV of the group_send script for one payload per key: the payloads, the keys'
 * capacities, then the clock.
 */
std::vector<std::string> group_send_args(std::vector<std::string> payloads,
                                         std::vector<std::size_t> const& capacities,
                                         ScriptClock const& clock);

/**
 * The positions (0-based, into the script's KEYS) that the group_send script reports as
 * full. Anything that is not a position among `keys` is ignored.
 */
std::vector<std::size_t> full_positions(redis::Reply const& reply, std::size_t keys);

/** What the one-trip group_send script answers. */
struct OneTripAnswer {
    /** A key that was full: its message was not added. */
    struct Full {
        /** The Redis key. */
        std::string key;
        /** Its channels as the msgpack array the script packed (the payload's tail). */
        std::string packed_channels;
        /** How many channels that is. */
        std::size_t channels = 0;
    };
    /** Members the group had. */
    std::size_t members = 0;
    /** Members behind full keys. */
    std::size_t skipped = 0;
    /** The full keys, to try again. */
    std::vector<Full> full;
    /** The keys the message was added to. */
    std::vector<std::string> added;
};

/** Parses the one-trip script's reply; a reply of another shape reads as nothing sent. */
OneTripAnswer parse_one_trip(redis::Reply reply);

/** A group_send()'s message for keys that were full: what is tried again, key by key. */
struct GroupSendRetry {
    /** The full keys. */
    std::vector<std::string> keys;
    /** Each key's whole payload. */
    std::vector<std::string> payloads;
    /** Each key's capacity. */
    std::vector<std::size_t> capacities;
    /** How many channels are behind each key. */
    std::vector<std::size_t> counts;
};

/**
 * The messages of pipelined group_send()s (sent before the previous ones were answered) that
 * found full keys, fed with the scripts' answers in the order Redis ran them. A message
 * waiting for room in a key is given up once a later message has been added to that key:
 * trying it again would deliver it after that later one. What stays is tried again in order,
 * once every message sent before it has been answered.
 */
class PendingRetries {
public:
    /** One message's full keys, and its group (for the log). */
    struct Waiting {
        /** The group the message was sent to. */
        std::string group;
        /** Its full keys. */
        GroupSendRetry retry;
    };
    /** Channels given up by answer(), for one group. */
    struct GivenUp {
        /** The group of the message given up. */
        std::string group;
        /** Member channels it will not reach. */
        std::size_t channels = 0;
    };

    /**
     * Records the answer to the next message: the waiting messages' keys among `added` are
     * given up (returned, by group, in order), then `full`, when it has keys, waits behind
     * the others.
     */
    std::vector<GivenUp> answer(std::string group, GroupSendRetry full,
                                std::vector<std::string> const& added);
    /** True when no message waits. */
    [[nodiscard]] bool empty() const noexcept { return waiting_.empty(); }
    /** Member channels behind the waiting messages' keys. */
    [[nodiscard]] std::size_t channels() const noexcept;
    /** Takes the waiting messages, oldest first. */
    std::vector<Waiting> take();

private:
    std::vector<Waiting> waiting_;
};

} // namespace canal::detail
