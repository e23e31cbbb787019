// Presence in Redis for RedisChannelLayer: who is in which group across processes, with
// entries that expire when their process stops renewing them.
//
// Keys (on the shard of the group, as the group's own key), apart from channels_redis' keys
// (a Django process ignores them):
//   PREFIX:presence:GROUP        hash: channel -> meta (JSON)
//   PREFIX:presence-deadlines    sorted set: "GROUP CHANNEL" -> deadline (ms, Redis TIME)
// Every process renews the deadlines of the entries it tracks every ttl/3, and sweeps the
// expired ones of every process (one Lua script: each is removed once, by one process,
// which sends the group its leave).
#pragma once

#include <canal/core/message.hpp>
#include <canal/core/net.hpp>
#include <canal/layers/channel_layer.hpp>
#include <canal/redis/client.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace canal::detail {

/** An entry as a sweep or a members script returns it. */
struct PresenceRecord {
    std::string group;
    std::string channel;
    std::string meta; // JSON
};

std::string presence_hash_key(std::string_view prefix, std::string_view group);
std::string presence_deadlines_key(std::string_view prefix);
/** The sorted set's member: group and channel joined by a space (in neither name). */
std::string presence_member(std::string_view group, std::string_view channel);

/**
 * A flat array reply of (group, channel, meta) triples as records; entries whose meta is not
 * a JSON object are skipped. Throws canal::Error for a reply of another shape.
 */
std::vector<PresenceRecord> parse_presence_triples(redis::Reply const& reply);

/** One presence.diff per group, in order of first appearance, with the records as leaves. */
std::vector<std::pair<std::string, Message>> leave_diffs(std::vector<PresenceRecord> const& gone);

class RedisPresence;

/** A Redis layer's presence_track(): checks the arguments, then runs on the layer's thread. */
awaitable<void> presence_track_on(net::any_io_executor ex, std::shared_ptr<RedisPresence> presence,
                                  std::string group, std::string channel, boost::json::object meta);
/** A Redis layer's presence_untrack(): checks the names, then runs on the layer's thread. */
awaitable<void> presence_untrack_on(net::any_io_executor ex,
                                    std::shared_ptr<RedisPresence> presence, std::string group,
                                    std::string channel);
/** A Redis layer's group_members(): checks the name, then runs on the layer's thread. */
awaitable<std::vector<PresenceEntry>> group_members_on(net::any_io_executor ex,
                                                       std::shared_ptr<RedisPresence> presence,
                                                       std::string group);

class RedisPresence : public std::enable_shared_from_this<RedisPresence> {
public:
    /** What the presence needs of its layer. Called on the layer's thread only. */
    struct Hooks {
        std::size_t shards = 1;
        std::function<std::size_t(std::string_view)> shard_of;
        std::function<awaitable<redis::Client*>(std::size_t)> client;
        std::function<awaitable<void>(std::string, Message)> group_send;
    };

    RedisPresence(std::string prefix, std::chrono::milliseconds ttl, Hooks hooks);

    // The operations; on the layer's thread.
    static awaitable<void> track(std::shared_ptr<RedisPresence> self, std::string group,
                                 std::string channel, std::string meta);
    static awaitable<void> untrack(std::shared_ptr<RedisPresence> self, std::string group,
                                   std::string channel);
    static awaitable<std::vector<PresenceEntry>> members(std::shared_ptr<RedisPresence> self,
                                                         std::string group);
    /** Renews this process's entries and sweeps expired ones every ttl/3, until stop(). */
    static awaitable<void> run(std::shared_ptr<RedisPresence> self);
    void stop();
    /** Forgets what this process tracks (flush()). */
    void forget() { tracked_.clear(); }
    /**
     * Deletes every presence key of the prefix on every shard and forgets what this process
     * tracks: flush() of a layer whose own flush leaves Redis' keys alone (pub/sub).
     */
    static awaitable<void> erase_all(std::shared_ptr<RedisPresence> self);

private:
    awaitable<void> renew(std::size_t shard);
    awaitable<void> sweep(std::size_t shard);

    std::string prefix_;
    std::chrono::milliseconds ttl_;
    Hooks hooks_;
    // What this process tracks: group -> channel -> meta (JSON).
    std::map<std::string, std::map<std::string, std::string>> tracked_;
    std::unique_ptr<net::steady_timer> timer_;
    bool stopped_ = false;
    bool failing_ = false;
    redis::Script const track_script_;
    redis::Script const untrack_script_;
    redis::Script const members_script_;
    redis::Script const renew_script_;
    redis::Script const sweep_script_;
    redis::Script const erase_script_;
};

} // namespace canal::detail
