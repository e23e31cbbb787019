// Presence in the Redis layers across processes (two layers on one redis-server stand for two
// canal processes), and its sans-I/O pieces.
#include "layers/redis_presence.hpp"

#include <canal/core/errors.hpp>
#include <canal/layers/redis_channel_layer.hpp>
#include <canal/layers/redis_pubsub_channel_layer.hpp>
#include <canal/redis/client.hpp>

#include "support/async_run.hpp"
#include "support/layer_helpers.hpp"
#include "support/redis_server.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/mpl/list.hpp>
#include <boost/test/unit_test.hpp>

#include <optional>
#include <set>

using namespace std::chrono_literals;

namespace {

using canal::awaitable;
using canal::Message;
using canal::RedisChannelLayer;
using canal::RedisLayerSettings;
using canal::RedisPubSubChannelLayer;
using canal::RedisPubSubLayerSettings;
using canal::redis::Reply;
using canal::test::RedisProcess;
using canal::test::meta_of;
using canal::test::receive_within;
using canal::test::run_async;
namespace net = canal::net;

// The layers with presence in Redis, each with settings for a 300 ms ttl.
struct CoreLayer {
    using Layer = RedisChannelLayer;
    static RedisLayerSettings settings(std::string const& url) {
        RedisLayerSettings s;
        s.hosts = {url};
        s.receive_poll = 200ms;
        s.presence_ttl = 300ms;
        return s;
    }
};
struct PubSubLayer {
    using Layer = RedisPubSubChannelLayer;
    static RedisPubSubLayerSettings settings(std::string const& url) {
        RedisPubSubLayerSettings s;
        s.hosts = {url};
        s.presence_ttl = 300ms;
        return s;
    }
};
using PresenceLayers = boost::mpl::list<CoreLayer, PubSubLayer>;

Reply string_reply(std::string s) {
    Reply r;
    r.kind = Reply::Kind::string;
    r.str = std::move(s);
    return r;
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_presence)

BOOST_AUTO_TEST_CASE(sweep_replies_become_one_leave_diff_per_group) {
    Reply reply;
    reply.kind = Reply::Kind::array;
    for (auto const* s : {"room", "c1!a", R"({"username":"ann"})", "hall", "c2!b", "not json",
                          "room", "c3!c", R"({"username":"cy"})"}) {
        reply.elements.push_back(string_reply(s));
    }
    auto const records = canal::detail::parse_presence_triples(reply);
    BOOST_TEST(records.size() == 2U); // the entry whose meta is not a JSON object is skipped
    auto const diffs = canal::detail::leave_diffs(records);
    BOOST_REQUIRE(diffs.size() == 1U);
    BOOST_TEST(diffs[0].first == "room");
    auto const& leaves = diffs[0].second.at("leaves").as_object();
    BOOST_TEST(leaves.size() == 2U);
    BOOST_TEST(leaves.at("c3!c").at("username").as_string() == "cy");
    BOOST_TEST(diffs[0].second.type() == "presence.diff");

    BOOST_TEST(canal::detail::parse_presence_triples(Reply{}).empty()); // nil
    Reply odd;
    odd.kind = Reply::Kind::array;
    odd.elements.push_back(string_reply("room"));
    BOOST_CHECK_THROW(canal::detail::parse_presence_triples(odd), canal::Error);
    BOOST_TEST(canal::detail::presence_member("room", "c!x") == "room c!x");
    BOOST_TEST(canal::detail::presence_hash_key("asgi", "room") == "asgi:presence:room");
}

BOOST_AUTO_TEST_CASE_TEMPLATE(presence_is_shared_by_processes_and_a_crashed_ones_entries_expire,
                              Kind, PresenceLayers) {
    using Layer = typename Kind::Layer;
    RedisProcess server;
    auto const s = Kind::settings(server.url());
    Layer b(s);
    auto a = std::make_unique<Layer>(s);
    a->wait_connected();
    b.wait_connected();
    std::string watcher;
    std::string ann;
    std::string bob;
    run_async([&]() -> awaitable<void> {
        watcher = co_await b.new_channel();
        co_await b.group_add("room", watcher);
        ann = co_await a->new_channel();
        bob = co_await a->new_channel();

        // A join in one process reaches the group and the other process's group_members().
        co_await a->presence_track("room", ann, meta_of("ann"));
        auto diff = co_await receive_within(b, watcher, 3000ms);
        BOOST_REQUIRE(diff);
        BOOST_TEST(diff->at("joins").as_object().at(ann).at("username").as_string() == "ann");
        auto const seen = co_await b.group_members("room");
        BOOST_REQUIRE(seen.size() == 1U);
        BOOST_TEST(seen[0].channel == ann);
        BOOST_TEST(seen[0].meta.at("username").as_string() == "ann");

        // Renewed by its process, an entry outlives many ttls (300 ms here).
        co_await canal::test::pause(1200ms);
        auto const later = co_await b.group_members("room");
        BOOST_TEST(later.size() == 1U);
        auto const quiet = co_await receive_within(b, watcher, 10ms);
        BOOST_TEST(!quiet); // no leave meanwhile

        co_await a->presence_track("room", bob, meta_of("bob"));
        BOOST_REQUIRE(co_await receive_within(b, watcher, 3000ms)); // bob's join
    });
    // A process that stops without untracking (a crash): its entries expire, and the other
    // process's sweep sends the group their leaves.
    a.reset();
    run_async([&]() -> awaitable<void> {
        std::set<std::string> left;
        while (left.size() < 2) {
            auto diff = co_await receive_within(b, watcher, 5000ms);
            BOOST_REQUIRE_MESSAGE(diff, "leaves of a crashed process within 5 s");
            BOOST_TEST(diff->type() == "presence.diff");
            for (auto const& [channel, meta] : diff->at("leaves").as_object()) {
                left.insert(std::string(meta.at("username").as_string()) + "@" +
                            std::string(channel));
            }
        }
        BOOST_TEST(left == (std::set<std::string>{"ann@" + ann, "bob@" + bob}));
        auto const after = co_await b.group_members("room");
        BOOST_TEST(after.empty());
    });
}

BOOST_AUTO_TEST_SUITE_END()
