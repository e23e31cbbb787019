// RedisChannelLayer's pipelined group_send (RedisLayerSettings::group_send_pipeline) on a real
// redis-server: order across processes, the window, and full keys.
#include <canal/layers/redis_channel_layer.hpp>

#include <canal/core/errors.hpp>

#include "support/async_run.hpp"
#include "support/redis_server.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using canal::Message;
using canal::RedisChannelLayer;
using canal::RedisLayerSettings;
using canal::test::numbered;
using canal::test::RedisProcess;
using canal::test::run_sync;

RedisLayerSettings settings_for(RedisProcess const& server) {
    RedisLayerSettings s;
    s.hosts = {server.url()};
    s.receive_poll = 200ms;
    return s;
}

std::int64_t n_of(Message const& m) { return m.at("n").as_int64(); }

} // namespace

BOOST_AUTO_TEST_SUITE(group_send_pipeline)

// A burst of group_sends from one process reaches every member, in both processes, in order.
BOOST_AUTO_TEST_CASE(a_burst_reaches_every_member_of_two_processes_in_order) {
    RedisProcess server;
    RedisChannelLayer sender(settings_for(server));
    RedisChannelLayer other(settings_for(server));
    sender.wait_connected();
    other.wait_connected();
    std::vector<std::string> here;
    std::vector<std::string> there;
    for (int i = 0; i < 3; ++i) {
        here.push_back(run_sync(sender.new_channel()));
        there.push_back(run_sync(other.new_channel()));
        run_sync(sender.group_add("room", here.back()));
        run_sync(other.group_add("room", there.back()));
    }
    constexpr int burst = 90; // under the members' capacity (100): nobody reads yet
    auto const before = sender.stats();
    for (int i = 0; i < burst; ++i) {
        run_sync(sender.group_send("room", numbered("chat.message", i)));
    }
    BOOST_TEST(sender.settle(10s));
    auto const after = sender.stats();
    BOOST_TEST(after.group_sends - before.group_sends == static_cast<std::uint64_t>(burst));
    BOOST_TEST(after.group_sends_failed == 0U);
    BOOST_TEST(after.dropped_over_capacity == 0U);
    auto const check = [](RedisChannelLayer& layer, std::string const& channel) {
        for (int i = 0; i < burst; ++i) {
            auto const got = run_sync(layer.receive(channel));
            if (n_of(got) != i) {
                BOOST_ERROR(channel << " got message " << n_of(got) << " where " << i
                                    << " was due");
                return;
            }
        }
    };
    for (auto const& channel : here) {
        check(sender, channel);
    }
    for (auto const& channel : there) {
        check(other, channel);
    }
}

// A layer on `server` with `pipeline`, and "member" in "room".
std::unique_ptr<RedisChannelLayer> room_layer(RedisProcess const& server, std::size_t pipeline) {
    auto s = settings_for(server);
    s.group_send_pipeline = pipeline;
    auto layer = std::make_unique<RedisChannelLayer>(s);
    layer->wait_connected();
    run_sync(layer->group_add("room", "member"));
    return layer;
}

// True when group_send(message n) waits while `server` is frozen and returns once it thaws.
bool held_until_thawed(RedisProcess& server, RedisChannelLayer& layer, int n) {
    server.freeze(); // already, for a second call: the same
    auto call = std::async(std::launch::async,
                           [&layer, n] { run_sync(layer.group_send("room", numbered("m", n))); });
    bool const held = call.wait_for(300ms) == std::future_status::timeout;
    server.thaw();
    bool const returned = call.wait_for(5s) == std::future_status::ready;
    call.get();
    return held && returned;
}

// group_send() returns once its script is queued; with `group_send_pipeline` unanswered
// ones (Redis frozen), the next one waits for an answer.
BOOST_AUTO_TEST_CASE(group_send_waits_once_the_window_is_full) {
    RedisProcess server;
    auto layer = room_layer(server, 2);
    run_sync(layer->group_send("room", numbered("m", 0))); // the script is cached
    BOOST_TEST(layer->settle(5s));
    server.freeze();
    run_sync(layer->group_send("room", numbered("m", 1)));
    run_sync(layer->group_send("room", numbered("m", 2)));
    BOOST_TEST(held_until_thawed(server, *layer, 3));
    for (int i = 0; i < 4; ++i) {
        BOOST_TEST(n_of(run_sync(layer->receive("member"))) == i);
    }
    BOOST_TEST(layer->stats().group_sends_failed == 0U);
}

// With pipelining off, group_send() waits for Redis's answer: a frozen Redis holds it up.
BOOST_AUTO_TEST_CASE(group_send_waits_for_its_answer_without_a_pipeline) {
    RedisProcess server;
    auto layer = room_layer(server, 0);
    run_sync(layer->group_send("room", numbered("m", 0)));
    BOOST_TEST(held_until_thawed(server, *layer, 1));
    BOOST_TEST(n_of(run_sync(layer->receive("member"))) == 0);
    BOOST_TEST(n_of(run_sync(layer->receive("member"))) == 1);
}

// Pipelined messages that find a member's key full wait for room behind each other; what
// the member gets is in order, and what it does not get is counted.
BOOST_AUTO_TEST_CASE(messages_for_a_full_member_arrive_in_order_or_are_counted) {
    RedisProcess server;
    auto s = settings_for(server);
    s.capacity = 3;
    s.backpressure_timeout = 3s;
    RedisChannelLayer layer(s);
    layer.wait_connected();
    run_sync(layer.group_add("room", "slow"));
    // The member reads slowly: the pipelined messages find its key full, wait for room,
    // and the later group_send()s wait behind them.
    std::vector<std::int64_t> got;
    std::thread reader([&] {
        for (;;) {
            auto const m = run_sync(layer.receive("slow"));
            if (m.type() == "test.stop") {
                break;
            }
            got.push_back(n_of(m));
            std::this_thread::sleep_for(20ms);
        }
    });
    constexpr int sends = 12;
    for (int i = 0; i < sends; ++i) {
        run_sync(layer.group_send("room", numbered("chat.message", i)));
    }
    BOOST_TEST(layer.settle(10s));
    // The key may still be full of the last messages: stop the reader once there is room.
    auto const until = std::chrono::steady_clock::now() + 5s;
    for (bool sent = false; !sent && std::chrono::steady_clock::now() < until;) {
        try {
            run_sync(layer.send("slow", numbered("test.stop", 0)));
            sent = true;
        } catch (canal::ChannelFull const&) {
            std::this_thread::sleep_for(20ms);
        }
    }
    reader.join();
    auto const dropped = layer.stats().dropped_over_capacity;
    std::string seen;
    for (auto n : got) {
        seen += " " + std::to_string(n);
    }
    BOOST_TEST_MESSAGE("delivered" << seen << "; given up " << dropped);
    BOOST_TEST(got.size() + dropped == static_cast<std::size_t>(sends));
    BOOST_TEST_REQUIRE(got.size() >= 3U);
    for (std::size_t i = 1; i < got.size(); ++i) {
        BOOST_TEST(got[i - 1] < got[i]);
    }
    BOOST_TEST(got.back() == sends - 1); // the last one had nothing to overtake it
}

BOOST_AUTO_TEST_SUITE_END()
