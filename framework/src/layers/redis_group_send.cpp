// group_send()'s plan on the Redis layer, sans I/O (see redis_group_send.hpp).
#include "layers/redis_group_send.hpp"

#include "layers/redis_wire.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <utility>

namespace canal::detail {

std::vector<GroupSendBucket> plan_group_send(std::vector<std::string> members,
                                             std::string_view prefix,
                                             CapacityTable const& capacities, std::size_t shards) {
    std::vector<GroupSendBucket> buckets;
    std::unordered_map<std::string, std::size_t> index;
    for (auto& channel : members) {
        auto const nl = non_local_name(channel);
        std::string key(prefix);
        key += nl;
        auto [it, inserted] = index.try_emplace(key, buckets.size());
        if (!inserted) {
            buckets[it->second].channels.push_back(std::move(channel));
            continue;
        }
        GroupSendBucket bucket;
        bucket.capacity = capacities.capacity(channel);
        bucket.shard = consistent_hash(nl, shards);
        bucket.key = std::move(key);
        bucket.channels.push_back(std::move(channel));
        buckets.push_back(std::move(bucket));
    }
    return buckets;
}

std::vector<std::pair<std::size_t, std::vector<std::size_t>>>
buckets_by_shard(std::vector<GroupSendBucket> const& buckets) {
    std::map<std::size_t, std::vector<std::size_t>> by_shard;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        by_shard[buckets[i].shard].push_back(i);
    }
    return {by_shard.begin(), by_shard.end()};
}

std::string redis_score(double seconds) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.6f", seconds);
    return buffer;
}

long long whole_seconds(std::chrono::milliseconds d) {
    return std::max<long long>(1, std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

ScriptClock script_clock(double now, std::chrono::milliseconds expiry) {
    ScriptClock clock;
    clock.now = redis_score(now);
    clock.expiry = whole_seconds(expiry);
    clock.cutoff = static_cast<long long>(now) - clock.expiry;
    return clock;
}

std::vector<std::string> group_send_args(std::vector<std::string> payloads,
                                         std::vector<std::size_t> const& capacities,
                                         ScriptClock const& clock) {
    auto args = std::move(payloads);
    args.reserve(args.size() + capacities.size() + 3);
    for (auto c : capacities) {
        args.push_back(std::to_string(c));
    }
    args.push_back(clock.now);
    args.push_back(std::to_string(clock.expiry));
    args.push_back(std::to_string(clock.cutoff));
    return args;
}

std::vector<std::size_t> full_positions(redis::Reply const& reply, std::size_t keys) {
    std::vector<std::size_t> out;
    if (reply.kind != redis::Reply::Kind::array) {
        return out;
    }
    for (auto const& element : reply.elements) {
        if (element.kind != redis::Reply::Kind::integer || element.integer < 1 ||
            static_cast<unsigned long long>(element.integer) > keys) {
            continue;
        }
        auto const position = static_cast<std::size_t>(element.integer - 1);
        if (std::find(out.begin(), out.end(), position) == out.end()) {
            out.push_back(position);
        }
    }
    return out;
}

OneTripAnswer parse_one_trip(redis::Reply reply) {
    OneTripAnswer answer;
    auto& e = reply.elements;
    if (reply.kind != redis::Reply::Kind::array || e.size() < 2 ||
        e[0].kind != redis::Reply::Kind::integer || e[1].kind != redis::Reply::Kind::integer) {
        return answer;
    }
    answer.members = static_cast<std::size_t>(std::max<long long>(0, e[0].integer));
    answer.skipped = static_cast<std::size_t>(std::max<long long>(0, e[1].integer));
    if (e.size() < 3 || e[2].kind != redis::Reply::Kind::integer) {
        return answer;
    }
    auto const fulls = static_cast<std::size_t>(std::max<long long>(0, e[2].integer));
    std::size_t i = 3;
    for (std::size_t k = 0; k < fulls && i + 2 < e.size(); ++k, i += 3) {
        OneTripAnswer::Full full;
        full.key = std::move(e[i].str);
        full.packed_channels = std::move(e[i + 1].str);
        full.channels = static_cast<std::size_t>(std::max<long long>(0, e[i + 2].integer));
        answer.full.push_back(std::move(full));
    }
    for (; i < e.size(); ++i) {
        answer.added.push_back(std::move(e[i].str));
    }
    return answer;
}

namespace {

// Removes `key` from `retry`; returns the channels that were behind it.
std::size_t erase_key(GroupSendRetry& retry, std::string const& key) {
    std::size_t channels = 0;
    for (std::size_t k = retry.keys.size(); k-- > 0;) {
        if (retry.keys[k] != key) {
            continue;
        }
        channels += retry.counts[k];
        auto const at = static_cast<std::ptrdiff_t>(k);
        retry.keys.erase(retry.keys.begin() + at);
        retry.payloads.erase(retry.payloads.begin() + at);
        retry.capacities.erase(retry.capacities.begin() + at);
        retry.counts.erase(retry.counts.begin() + at);
    }
    return channels;
}

} // namespace

std::vector<PendingRetries::GivenUp>
PendingRetries::answer(std::string group, GroupSendRetry full,
                       std::vector<std::string> const& added) {
    std::vector<GivenUp> given_up;
    for (auto& waiting : waiting_) {
        std::size_t channels = 0;
        for (auto const& key : added) {
            channels += erase_key(waiting.retry, key);
        }
        if (channels > 0) {
            given_up.push_back(GivenUp{waiting.group, channels});
        }
    }
    std::erase_if(waiting_, [](Waiting const& w) { return w.retry.keys.empty(); });
    if (!full.keys.empty()) {
        waiting_.push_back(Waiting{std::move(group), std::move(full)});
    }
    return given_up;
}

std::size_t PendingRetries::channels() const noexcept {
    std::size_t n = 0;
    for (auto const& waiting : waiting_) {
        for (auto c : waiting.retry.counts) {
            n += c;
        }
    }
    return n;
}

std::vector<PendingRetries::Waiting> PendingRetries::take() {
    return std::exchange(waiting_, {});
}

} // namespace canal::detail
