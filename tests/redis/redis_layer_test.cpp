// RedisChannelLayer beyond the common contract (tests/layers/layer_contract_test.cpp):
// capacity patterns, slow local consumers, several processes, sharding, Redis restarts.
#include <canal/layers/redis_channel_layer.hpp>

#include "layers/redis_wire.hpp"

#include <canal/core/errors.hpp>
#include <canal/redis/client.hpp>

#include "support/async_run.hpp"
#include "support/redis_server.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>
#include <boost/test/unit_test.hpp>

#include <array>
#include <optional>
#include <set>
#include <thread>

using namespace std::chrono_literals;

namespace {

using canal::awaitable;
using canal::Message;
using canal::RedisChannelLayer;
using canal::RedisLayerSettings;
using canal::redis::Client;
using canal::redis::Command;
using canal::test::numbered;
using canal::test::RedisProcess;
using canal::test::run_async;
using canal::test::run_sync;
namespace net = canal::net;

RedisLayerSettings settings_for(std::vector<std::string> hosts) {
    RedisLayerSettings s;
    s.hosts = std::move(hosts);
    s.receive_poll = 200ms;
    s.connect_timeout = 1000ms;
    return s;
}

// Polls `done` every 10 ms for up to `limit`; true when it became true.
template <typename F>
bool eventually(F done, std::chrono::milliseconds limit = 5000ms) {
    auto const deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

std::set<std::string> members_of(Client& raw, std::string const& group) {
    auto const reply = run_sync(raw.command(Command{"ZRANGE", "asgi:group:" + group, "0", "-1"}));
    std::set<std::string> out;
    for (auto const& e : reply.elements) {
        out.insert(e.str);
    }
    return out;
}

// Sends to `channel` until it is full; returns how many messages it took.
awaitable<int> fill(RedisChannelLayer& layer, std::string channel) {
    for (int i = 0; i < 20; ++i) {
        try {
            co_await layer.send(channel, numbered("m", i));
        } catch (canal::ChannelFull const&) {
            co_return i;
        }
    }
    co_return 20;
}

std::string now_score() {
    auto const now = std::chrono::system_clock::now().time_since_epoch();
    return std::to_string(std::chrono::duration<double>(now).count());
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_layer)

BOOST_AUTO_TEST_CASE(settings_are_checked) {
    auto const make = [](RedisLayerSettings s) { RedisChannelLayer layer(std::move(s)); };
    auto s = settings_for({});
    BOOST_CHECK_THROW(make(s), std::invalid_argument);
    s = settings_for({"http://127.0.0.1:1"});
    BOOST_CHECK_THROW(make(s), std::invalid_argument);
    s = settings_for({"redis://127.0.0.1:1"});
    s.capacity = 0;
    BOOST_CHECK_THROW(make(s), std::invalid_argument);
    s = settings_for({"redis://127.0.0.1:1"});
    s.prefix = "has space";
    BOOST_CHECK_THROW(make(s), std::invalid_argument);
    s = settings_for({"redis://127.0.0.1:1"});
    s.channel_capacity = {{"a*", 0}};
    BOOST_CHECK_THROW(make(s), std::invalid_argument);
    s = settings_for({"redis://127.0.0.1:1"});
    s.presence_ttl = 50ms;
    BOOST_CHECK_THROW(make(s), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(an_unreachable_redis_is_named_by_wait_connected) {
    auto const port = std::to_string(canal::test::free_loopback_port());
    RedisChannelLayer layer(settings_for({"redis://127.0.0.1:" + port}));
    auto const start = std::chrono::steady_clock::now();
    std::string what = "(nothing thrown)";
    try {
        layer.wait_connected();
    } catch (canal::Error const& e) {
        what = e.what();
    }
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2000ms));
    BOOST_TEST(what.starts_with("Redis 127.0.0.1:" + port), what);
}

BOOST_AUTO_TEST_CASE(wait_connected_gives_up_on_a_silent_server_within_the_connect_timeout) {
    // A listener that never accepts: the kernel completes the TCP handshake, nobody answers.
    net::io_context ioc;
    net::ip::tcp::acceptor silent(ioc, {net::ip::make_address("127.0.0.1"), 0});
    auto const address = "127.0.0.1:" + std::to_string(silent.local_endpoint().port());
    auto s = settings_for({"redis://" + address});
    s.connect_timeout = 500ms;
    RedisChannelLayer layer(s);
    auto const start = std::chrono::steady_clock::now();
    std::string what = "(nothing thrown)";
    try {
        layer.wait_connected();
    } catch (canal::Error const& e) {
        what = e.what();
    }
    auto const took = std::chrono::steady_clock::now() - start;
    BOOST_TEST(what.starts_with("Redis " + address), what);
    BOOST_TEST((took < 1500ms),
               "wait_connected() took "
                   << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                   << " ms with connect_timeout = 500 ms");
}

BOOST_AUTO_TEST_CASE(layers_with_different_prefixes_do_not_meet) {
    RedisProcess server;
    auto s = settings_for({server.url()});
    RedisChannelLayer asgi(s);
    s.prefix = "other";
    RedisChannelLayer other(s);
    run_async([&]() -> awaitable<void> {
        co_await asgi.send("jobs", numbered("for asgi", 1));
        co_await other.send("jobs", numbered("for other", 2));
        auto const mine = co_await asgi.new_channel();
        co_await asgi.group_add("room", mine);
        co_await other.group_send("room", numbered("other room", 3)); // nobody there
        co_await other.flush();                                       // deletes "other*" keys only
        BOOST_TEST((co_await asgi.receive("jobs")).at("n").as_int64() == 1);
        co_await asgi.group_send("room", numbered("asgi room", 4));
        BOOST_TEST((co_await asgi.receive(mine)).at("n").as_int64() == 4);
    });
}

BOOST_AUTO_TEST_CASE(a_cancelled_receive_on_a_named_channel_ends_and_loses_nothing) {
    net::io_context ioc; // outlives the layers (see canal::test::ContextLease)
    RedisProcess server;
    RedisChannelLayer layer(settings_for({server.url()}));
    RedisChannelLayer sender(settings_for({server.url()}));
    layer.wait_connected();
    sender.wait_connected();
    for (bool with_message : {false, true}) {
        ioc.restart();
        net::cancellation_signal cancel;
        std::exception_ptr failure;
        std::optional<Message> got;
        bool finished = false;
        auto const start = std::chrono::steady_clock::now();
        net::co_spawn(
            ioc,
            [&]() -> awaitable<void> {
                net::post(ioc, [&] {
                    cancel.emit(net::cancellation_type::terminal);
                    if (with_message) { // arrives while the cancelled receive still waits
                        run_sync(sender.send("jobs", numbered("raced", 1)));
                    }
                });
                got = co_await layer.receive("jobs");
            },
            net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                failure = e;
                finished = true;
            }));
        ioc.run_for(canal::test::run_deadline);
        auto const took = std::chrono::steady_clock::now() - start;
        BOOST_REQUIRE(finished);
        BOOST_TEST((took < 2000ms)); // receive_poll is 200 ms
        bool aborted = false;
        try {
            if (failure) {
                std::rethrow_exception(failure);
            }
        } catch (boost::system::system_error const& e) {
            aborted = e.code() == net::error::operation_aborted;
        }
        BOOST_TEST((aborted || got.has_value()), "with_message=" << with_message);
        if (!with_message) {
            BOOST_TEST(aborted);
            continue;
        }
        // The raced message was either returned by the cancelled receive or is still queued.
        if (!got) {
            got = run_sync(layer.receive("jobs"));
        }
        BOOST_TEST(got->at("n").as_int64() == 1);
    }
    // Nothing else is left behind.
    run_sync(sender.send("jobs", numbered("last", 2)));
    BOOST_TEST(run_sync(layer.receive("jobs")).at("n").as_int64() == 2);
}

BOOST_AUTO_TEST_CASE(a_channel_with_a_new_prefix_receives_without_waiting_for_the_poll) {
    RedisProcess server;
    auto s = settings_for({server.url()});
    s.receive_poll = 2000ms;
    RedisChannelLayer layer(s);
    layer.wait_connected();
    auto const first = run_sync(layer.new_channel());
    run_sync(layer.send(first, numbered("first", 1))); // the receive loop runs and waits
    BOOST_TEST(run_sync(layer.receive(first)).at("n").as_int64() == 1);
    // Wait until the receive loop is blocked in BZPOPMIN on the keys it knew then.
    Client raw(canal::redis::Url::parse(server.url()));
    run_sync(raw.connect());
    BOOST_TEST(eventually([&] {
        auto const list = run_sync(raw.command(Command{"CLIENT", "LIST"})).str;
        return list.find("flags=b ") != std::string::npos;
    }));
    auto const other = run_sync(layer.new_channel("other"));
    auto const start = std::chrono::steady_clock::now();
    run_sync(layer.send(other, numbered("other", 2)));
    BOOST_TEST(run_sync(layer.receive(other)).at("n").as_int64() == 2);
    auto const took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    BOOST_TEST((took < 500ms), "took " << took.count() << " ms with receive_poll = 2000 ms");
}

BOOST_AUTO_TEST_CASE(capacity_patterns) {
    RedisProcess server;
    auto s = settings_for({server.url()});
    s.capacity = 4;
    s.channel_capacity = {{"small.*", 2}, {"small.big", 9}, {"one?", 1}};
    RedisChannelLayer layer(s);
    run_async([&]() -> awaitable<void> {
        BOOST_TEST(co_await fill(layer, "small.a") == 2);
        BOOST_TEST(co_await fill(layer, "small.big") == 2); // the first matching pattern wins
        BOOST_TEST(co_await fill(layer, "one1") == 1);
        BOOST_TEST(co_await fill(layer, "one12") == 4);
        BOOST_TEST(co_await fill(layer, "other") == 4);
        CANAL_CO_CHECK_THROW(canal::ChannelFull, co_await layer.send("small.a", numbered("m", 0)),
                             "channel 'small.a' is full (capacity 2)");
    });
}

BOOST_AUTO_TEST_CASE(a_slow_local_channel_is_given_up_and_told_while_others_keep_receiving) {
    RedisProcess server;
    auto s = settings_for({server.url()});
    s.capacity = 3;
    s.backpressure_timeout = 200ms;
    RedisChannelLayer layer(s);
    run_async([&]() -> awaitable<void> {
        auto const slow = co_await layer.new_channel();
        auto const fast = co_await layer.new_channel();
        co_await layer.group_add("room", slow);
        co_await layer.group_add("room", fast);
        // `fast` receives each message before the next is sent; `slow` never reads: its
        // local buffer (capacity 3) fills, the receive loop waits 200 ms for room, then
        // gives it up.
        for (int i = 0; i < 10; ++i) {
            co_await layer.group_send("room", numbered("room.message", i));
            auto const got = co_await layer.receive(fast);
            BOOST_TEST(got.at("n").as_int64() == i);
        }
        co_await layer.send(fast, numbered("direct", 99));
        BOOST_TEST((co_await layer.receive(fast)).at("n").as_int64() == 99);
        auto const stats = layer.stats();
        BOOST_TEST(stats.dropped_local_full == 1u); // one channel given up
        BOOST_TEST(stats.dropped_over_capacity == 0u);
        BOOST_TEST(layer.dropped_count() == 1u);
        BOOST_TEST(stats.received == 11u);
        BOOST_TEST(stats.malformed == 0u);
        // Not silently: the slow channel's receiver is told.
        CANAL_CO_CHECK_THROW(canal::ChannelOverflow, co_await layer.receive(slow),
                             "channel '" + slow +
                                 "' missed messages: it stayed full (3 messages) for 200 ms, so "
                                 "a message for it could not be queued");
    });
}

BOOST_AUTO_TEST_CASE(a_local_channel_that_makes_room_in_time_misses_nothing) {
    RedisProcess server;
    auto s = settings_for({server.url()});
    s.capacity = 3;
    s.backpressure_timeout = 5s;
    RedisChannelLayer layer(s);
    run_async([&]() -> awaitable<void> {
        auto const slow = co_await layer.new_channel();
        auto const fast = co_await layer.new_channel();
        co_await layer.group_add("room", slow);
        co_await layer.group_add("room", fast);
        auto ex = co_await net::this_coro::executor;
        std::vector<std::int64_t> slow_got;
        net::co_spawn(
            ex,
            [&]() -> awaitable<void> {
                net::steady_timer late(ex, 100ms); // starts reading late
                co_await late.async_wait(net::use_awaitable);
                for (int i = 0; i < 10; ++i) {
                    slow_got.push_back((co_await layer.receive(slow)).at("n").as_int64());
                }
            },
            [](std::exception_ptr e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
        for (int i = 0; i < 10; ++i) {
            co_await layer.group_send("room", numbered("room.message", i));
            BOOST_TEST((co_await layer.receive(fast)).at("n").as_int64() == i);
        }
        while (slow_got.size() < 10) {
            net::steady_timer t(ex, 10ms);
            co_await t.async_wait(net::use_awaitable);
        }
        for (int i = 0; i < 10; ++i) {
            BOOST_TEST(slow_got[static_cast<std::size_t>(i)] == i);
        }
        BOOST_TEST(layer.dropped_count() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(two_processes_share_sends_and_groups) {
    RedisProcess server;
    RedisChannelLayer a(settings_for({server.url()}));
    RedisChannelLayer b(settings_for({server.url()}));
    a.wait_connected();
    b.wait_connected();
    run_async([&]() -> awaitable<void> {
        auto const in_a = co_await a.new_channel();
        auto const in_b = co_await b.new_channel();
        BOOST_TEST(in_a.substr(0, in_a.find('!')) != in_b.substr(0, in_b.find('!')));
        co_await a.send(in_b, numbered("a.to.b", 1));
        co_await b.send(in_a, numbered("b.to.a", 2));
        BOOST_TEST((co_await b.receive(in_b)).type() == "a.to.b");
        BOOST_TEST((co_await a.receive(in_a)).type() == "b.to.a");

        co_await a.group_add("chat_lobby", in_a);
        co_await b.group_add("chat_lobby", in_b);
        co_await a.group_send("chat_lobby", numbered("chat.message", 3));
        co_await b.group_send("chat_lobby", numbered("chat.message", 4));
        for (int n : {3, 4}) {
            BOOST_TEST((co_await a.receive(in_a)).at("n").as_int64() == n);
            BOOST_TEST((co_await b.receive(in_b)).at("n").as_int64() == n);
        }
        // A named channel: sent by one process, received by the other.
        co_await a.send("worker", numbered("job", 5));
        BOOST_TEST((co_await b.receive("worker")).at("n").as_int64() == 5);
        // Another process's specific channel cannot be received here.
        CANAL_CO_CHECK_THROW(canal::Error, (void)co_await a.receive(in_b),
                             "channel '" + in_b + "' is process-specific");
    });
}

BOOST_AUTO_TEST_CASE(sharding_over_two_servers) {
    RedisProcess one;
    RedisProcess two;
    std::vector<std::string> const hosts{one.url(), two.url()};
    RedisChannelLayer a(settings_for(hosts));
    RedisChannelLayer b(settings_for(hosts));
    a.wait_connected();
    b.wait_connected();
    Client raw_one(canal::redis::Url::parse(one.url()));
    Client raw_two(canal::redis::Url::parse(two.url()));
    std::array<Client*, 2> raw{&raw_one, &raw_two};
    run_sync(raw_one.connect());
    run_sync(raw_two.connect());

    run_async([&]() -> awaitable<void> {
        // Channels of both processes on both shards: new_channel() prefixes pick the shard.
        std::vector<std::pair<RedisChannelLayer*, std::string>> channels;
        std::array<RedisChannelLayer*, 2> const layers{&a, &b};
        for (auto* layer : layers) {
            std::set<std::size_t> shards;
            for (int i = 0; i < 64 && shards.size() < 2; ++i) {
                auto name = co_await layer->new_channel("s" + std::to_string(i));
                auto const shard =
                    canal::detail::consistent_hash(canal::detail::non_local_name(name), 2);
                if (shards.insert(shard).second) {
                    channels.emplace_back(layer, std::move(name));
                }
            }
            BOOST_TEST(shards.size() == 2u);
        }
        // Direct sends, each from the other process.
        int n = 0;
        for (auto const& [owner, channel] : channels) {
            auto* sender = owner == &a ? &b : &a;
            co_await sender->send(channel, numbered("direct", n));
            BOOST_TEST((co_await owner->receive(channel)).at("n").as_int64() == n, channel);
            ++n;
        }
        // Groups on both shards, every member on every group.
        std::vector<std::string> groups;
        std::set<std::size_t> group_shards;
        for (int i = 0; i < 64 && group_shards.size() < 2; ++i) {
            auto group = "g" + std::to_string(i);
            if (group_shards.insert(canal::detail::consistent_hash(group, 2)).second) {
                groups.push_back(std::move(group));
            }
        }
        BOOST_REQUIRE(groups.size() == 2u);
        for (auto const& group : groups) {
            for (auto const& [owner, channel] : channels) {
                co_await owner->group_add(group, channel);
            }
            auto const stored = members_of(*raw[canal::detail::consistent_hash(group, 2)], group);
            BOOST_TEST(stored.size() == channels.size());
            BOOST_TEST(
                members_of(*raw[1 - canal::detail::consistent_hash(group, 2)], group).empty());
            co_await a.group_send(group, numbered("group", 100));
            co_await b.group_send(group, numbered("group", 200));
            for (auto const& [owner, channel] : channels) {
                BOOST_TEST((co_await owner->receive(channel)).at("n").as_int64() == 100);
                BOOST_TEST((co_await owner->receive(channel)).at("n").as_int64() == 200);
            }
        }
    });

    // channels_redis #221: a process-specific channel's messages go to the shard its
    // receiver listens on, the hash of the non-local name, not of the full name. A channel
    // of a process that is not running keeps its messages where they can be inspected.
    std::string channel;
    for (int i = 0; i < 1000; ++i) {
        auto candidate = "specific.0ff1ine!" + std::to_string(i);
        if (canal::detail::consistent_hash(candidate, 2) !=
            canal::detail::consistent_hash("specific.0ff1ine!", 2)) {
            channel = std::move(candidate);
            break;
        }
    }
    BOOST_REQUIRE(!channel.empty());
    run_sync(a.send(channel, numbered("parked", 1)));
    auto const shard = canal::detail::consistent_hash("specific.0ff1ine!", 2);
    auto const key = std::string("asgi") + "specific.0ff1ine!";
    BOOST_TEST(run_sync(raw[shard]->command(Command{"ZCARD", key})).integer == 1);
    BOOST_TEST(run_sync(raw[1 - shard]->command(Command{"EXISTS", key})).integer == 0);
}

BOOST_AUTO_TEST_CASE(a_group_send_with_one_shard_down_reaches_the_others_and_names_the_dead_one) {
    RedisProcess one;
    RedisProcess two;
    std::array<RedisProcess*, 2> const servers{&one, &two};
    std::vector<std::string> const hosts{one.url(), two.url()};
    RedisChannelLayer layer(settings_for(hosts));
    layer.wait_connected();
    // A member channel on each shard; the group on shard 0, which stays up.
    std::array<std::string, 2> members;
    for (int i = 0; i < 64 && (members[0].empty() || members[1].empty()); ++i) {
        auto name = run_sync(layer.new_channel("m" + std::to_string(i)));
        auto const shard = canal::detail::consistent_hash(canal::detail::non_local_name(name), 2);
        if (members[shard].empty()) {
            members[shard] = std::move(name);
        }
    }
    BOOST_REQUIRE(!members[0].empty());
    BOOST_REQUIRE(!members[1].empty());
    std::string group;
    for (int i = 0; group.empty(); ++i) {
        auto candidate = "g" + std::to_string(i);
        if (canal::detail::consistent_hash(candidate, 2) == 0) {
            group = std::move(candidate);
        }
    }
    run_sync(layer.group_add(group, members[0]));
    run_sync(layer.group_add(group, members[1]));
    run_sync(layer.group_send(group, numbered("both", 1)));
    BOOST_TEST(run_sync(layer.receive(members[0])).at("n").as_int64() == 1);
    BOOST_TEST(run_sync(layer.receive(members[1])).at("n").as_int64() == 1);

    servers[1]->stop();
    std::string what = "(nothing thrown)";
    try {
        run_sync(layer.group_send(group, numbered("half", 2)));
    } catch (canal::Error const& e) {
        what = e.what();
    }
    BOOST_TEST(what.starts_with("Redis " + servers[1]->address()), what);
    BOOST_TEST(run_sync(layer.receive(members[0])).at("n").as_int64() == 2);
}

BOOST_AUTO_TEST_CASE(round_trips_per_group_send) {
    RedisProcess one;
    RedisProcess two;
    auto const measure = [](std::vector<std::string> hosts) {
        RedisChannelLayer layer(settings_for(hosts));
        layer.wait_connected();
        std::set<std::size_t> shards;
        for (int i = 0; i < 64 && shards.size() < hosts.size(); ++i) {
            auto const name = run_sync(layer.new_channel("p" + std::to_string(i)));
            auto const shard =
                canal::detail::consistent_hash(canal::detail::non_local_name(name), hosts.size());
            if (shards.insert(shard).second) {
                run_sync(layer.group_add("room", name));
                for (int extra = 0; extra < 3; ++extra) { // several members per Redis key
                    run_sync(layer.group_add("room",
                                             run_sync(layer.new_channel("p" + std::to_string(i)))));
                }
            }
        }
        run_sync(layer.group_send("room", numbered("warm-up", 0))); // scripts get cached
        BOOST_TEST(layer.settle(5s)); // a pipelined group_send() is answered by then
        auto const before = layer.stats();
        constexpr int sends = 10;
        for (int i = 0; i < sends; ++i) {
            run_sync(layer.group_send("room", numbered("m", i)));
        }
        BOOST_TEST(layer.settle(5s));
        auto const after = layer.stats();
        BOOST_TEST(after.group_sends - before.group_sends == static_cast<std::uint64_t>(sends));
        return static_cast<double>(after.round_trips - before.round_trips) / sends;
    };
    auto const single = measure({one.url()});
    auto const sharded = measure({one.url(), two.url()});
    BOOST_TEST_MESSAGE("Redis round trips per group_send: " << single << " with one shard, "
                                                            << sharded << " with two");
    // One Redis: one script reads the group and writes to its members. Several shards: one
    // round trip to read the group, then one script per target shard (concurrently).
    BOOST_TEST(single == 1.0);
    BOOST_TEST(sharded == 3.0);
}

BOOST_AUTO_TEST_CASE(redis_restart_fails_fast_then_recovers_with_group_memberships) {
    RedisProcess server;
    RedisChannelLayer layer(settings_for({server.url()}));
    layer.wait_connected();
    auto const first = run_sync(layer.new_channel());
    auto const second = run_sync(layer.new_channel());
    auto const gone = run_sync(layer.new_channel());
    run_sync(layer.group_add("chat_room", first));
    run_sync(layer.group_add("chat_room", second));
    run_sync(layer.group_add("chat_room", gone));
    run_sync(layer.group_add("chat_other", second));
    run_sync(layer.group_discard("chat_room", gone)); // left before the restart: not restored
    run_sync(layer.group_send("chat_room", numbered("before", 1)));
    BOOST_TEST(run_sync(layer.receive(first)).at("n").as_int64() == 1);
    BOOST_TEST(run_sync(layer.receive(second)).at("n").as_int64() == 1);

    server.stop();
    auto const errors = [&] {
        std::vector<std::string> out;
        auto const record = [&](auto op) {
            try {
                run_sync(std::move(op));
                out.emplace_back("(nothing thrown)");
            } catch (canal::Error const& e) {
                out.emplace_back(e.what());
            }
        };
        record(layer.send("worker", numbered("during", 2)));
        record(layer.group_send("chat_room", numbered("during", 2)));
        record(layer.group_add("chat_room", first));
        record(layer.send(first, numbered("during", 2)));
        return out;
    };
    auto const start = std::chrono::steady_clock::now();
    auto const during = errors();
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2000ms));
    for (auto const& e : during) {
        BOOST_TEST(e.starts_with("Redis " + server.address()), e);
    }

    server.start(); // empty: no persistence
    Client raw(canal::redis::Url::parse(server.url()));
    run_sync(raw.connect());
    std::set<std::string> const expected_room{first, second};
    std::set<std::string> const expected_other{second};
    BOOST_TEST(eventually([&] { return members_of(raw, "chat_room") == expected_room; }));
    BOOST_TEST(eventually([&] { return members_of(raw, "chat_other") == expected_other; }));

    // Calls work again by themselves, and the receive loop delivers again.
    BOOST_TEST(eventually([&] {
        try {
            run_sync(layer.group_send("chat_room", numbered("after", 3)));
            return true;
        } catch (canal::Error const&) {
            return false;
        }
    }));
    BOOST_TEST(run_sync(layer.receive(first)).at("n").as_int64() == 3);
    BOOST_TEST(run_sync(layer.receive(second)).at("n").as_int64() == 3);
    run_sync(layer.group_send("chat_other", numbered("after", 4)));
    BOOST_TEST(run_sync(layer.receive(second)).at("n").as_int64() == 4);
    BOOST_TEST(layer.dropped_count() == 0u);
}

BOOST_AUTO_TEST_CASE(a_malformed_payload_is_skipped_and_counted) {
    RedisProcess server;
    RedisChannelLayer layer(settings_for({server.url()}));
    layer.wait_connected();
    auto const channel = run_sync(layer.new_channel());
    Client raw(canal::redis::Url::parse(server.url()));
    run_sync(raw.connect());
    auto const key = "asgi" + std::string(canal::detail::non_local_name(channel));
    (void)run_sync(raw.command(Command{"ZADD", key, now_score(), "not a channels_redis payload"}));
    run_sync(layer.send(channel, numbered("good", 1)));
    BOOST_TEST(run_sync(layer.receive(channel)).at("n").as_int64() == 1);
    BOOST_TEST(layer.stats().malformed == 1u);
}

BOOST_AUTO_TEST_CASE(encryption_keys_are_checked) {
    auto s = settings_for({"redis://127.0.0.1:1"});
    s.symmetric_encryption_keys = {"good", ""};
    BOOST_CHECK_THROW(RedisChannelLayer{s}, std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(encrypted_layers_exchange_messages_and_redis_holds_no_plaintext) {
    RedisProcess server;
    auto s = settings_for({server.url()});
    s.symmetric_encryption_keys = {"django-insecure-secret"};
    RedisChannelLayer a(s);
    RedisChannelLayer b(s);
    a.wait_connected();
    b.wait_connected();
    Client raw(canal::redis::Url::parse(server.url()));
    run_sync(raw.connect());
    // What a named channel holds in Redis: 12 random bytes, then a Fernet token.
    run_sync(a.send("jobs", numbered("job.secret-plaintext", 1)));
    auto const stored =
        run_sync(raw.command(Command{"ZRANGE", "asgi" + std::string("jobs"), "0", "-1"}));
    BOOST_REQUIRE_EQUAL(stored.elements.size(), 1u);
    auto const& payload = stored.elements[0].str;
    BOOST_TEST(payload.substr(12, 6) == "gAAAAA");
    BOOST_TEST(payload.find("secret-plaintext") == std::string::npos);
    BOOST_TEST(run_sync(b.receive("jobs")).at("n").as_int64() == 1);

    run_async([&]() -> awaitable<void> {
        auto const in_a = co_await a.new_channel();
        auto const in_a2 = co_await a.new_channel();
        auto const in_b = co_await b.new_channel();
        co_await a.send(in_b, numbered("a.to.b", 2));
        BOOST_TEST((co_await b.receive(in_b)).at("n").as_int64() == 2);
        // group_send on one Redis takes the general path: one encrypted payload per key.
        co_await a.group_add("room", in_a);
        co_await a.group_add("room", in_a2);
        co_await b.group_add("room", in_b);
        co_await b.group_send("room", numbered("chat.message", 3));
        co_await a.group_send("room", numbered("chat.message", 4));
        for (int n : {3, 4}) {
            BOOST_TEST((co_await a.receive(in_a)).at("n").as_int64() == n);
            BOOST_TEST((co_await a.receive(in_a2)).at("n").as_int64() == n);
            BOOST_TEST((co_await b.receive(in_b)).at("n").as_int64() == n);
        }
    });
    BOOST_TEST(a.stats().undecryptable == 0u);
    BOOST_TEST(b.stats().undecryptable == 0u);
    BOOST_TEST(a.stats().received == 2u); // one per group message: its two channels share a key
}

BOOST_AUTO_TEST_CASE(a_message_the_keys_cannot_decrypt_is_dropped_and_counted) {
    RedisProcess server;
    auto s = settings_for({server.url()});
    s.symmetric_encryption_keys = {"right"};
    RedisChannelLayer receiver(s);
    RedisChannelLayer right(s);
    s.symmetric_encryption_keys = {"wrong"};
    RedisChannelLayer wrong(s);
    s.symmetric_encryption_keys.clear();
    RedisChannelLayer plain(s);
    receiver.wait_connected();
    auto const channel = run_sync(receiver.new_channel());
    run_sync(receiver.group_add("room", channel));
    // Process-specific channel (the receive loop) and group: the wrong key and no key at
    // all are dropped; the receive loop goes on with the next message.
    run_sync(wrong.send(channel, numbered("wrong key", 1)));
    run_sync(plain.send(channel, numbered("no key", 2)));
    run_sync(wrong.group_send("room", numbered("wrong key", 3)));
    run_sync(right.group_send("room", numbered("right key", 4)));
    BOOST_TEST(run_sync(receiver.receive(channel)).at("n").as_int64() == 4);
    BOOST_TEST(receiver.stats().undecryptable == 3u);
    BOOST_TEST(receiver.stats().malformed == 0u);
    // A named channel (popped by receive() itself).
    run_sync(wrong.send("jobs", numbered("wrong key", 5)));
    run_sync(right.send("jobs", numbered("right key", 6)));
    BOOST_TEST(run_sync(receiver.receive("jobs")).at("n").as_int64() == 6);
    BOOST_TEST(receiver.stats().undecryptable == 4u);
    // And the other way: a layer without keys cannot read encrypted messages.
    auto const plain_channel = run_sync(plain.new_channel());
    run_sync(right.send(plain_channel, numbered("encrypted", 7)));
    run_sync(plain.send(plain_channel, numbered("plain", 8)));
    BOOST_TEST(run_sync(plain.receive(plain_channel)).at("n").as_int64() == 8);
    BOOST_TEST(plain.stats().malformed == 1u);
}

BOOST_AUTO_TEST_CASE(rotated_keys_decrypt_old_messages_and_encrypt_with_the_new_key) {
    RedisProcess server;
    auto s = settings_for({server.url()});
    s.symmetric_encryption_keys = {"new", "old"};
    RedisChannelLayer rotated(s);
    s.symmetric_encryption_keys = {"old"};
    RedisChannelLayer old_only(s);
    rotated.wait_connected();
    old_only.wait_connected();
    auto const in_rotated = run_sync(rotated.new_channel());
    auto const in_old = run_sync(old_only.new_channel());
    run_sync(old_only.send(in_rotated, numbered("old key", 1)));
    BOOST_TEST(run_sync(rotated.receive(in_rotated)).at("n").as_int64() == 1);
    run_sync(rotated.send(in_old, numbered("new key", 2)));
    run_sync(old_only.send(in_old, numbered("old key", 3)));
    BOOST_TEST(run_sync(old_only.receive(in_old)).at("n").as_int64() == 3);
    BOOST_TEST(old_only.stats().undecryptable == 1u);
    BOOST_TEST(rotated.stats().undecryptable == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
