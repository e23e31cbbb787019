// The channel-layer contract, run against every layer: InMemoryChannelLayer, and
// RedisChannelLayer and RedisPubSubChannelLayer on a real redis-server started for each test.
#include <canal/layers/channel_layer.hpp>

#include <canal/core/errors.hpp>
#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/layers/redis_channel_layer.hpp>
#include <canal/layers/redis_pubsub_channel_layer.hpp>

#include "support/async_run.hpp"
#include "support/layer_helpers.hpp"
#include "support/redis_server.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/mpl/list.hpp>
#include <boost/system/system_error.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <set>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using canal::awaitable;
using canal::ChannelLayer;
using canal::LayerSettings;
using canal::Message;
using canal::test::numbered;
using canal::test::meta_of;
using canal::test::receive_within;
using canal::test::run_async;
using canal::test::run_sync;
namespace net = canal::net;

// Builds the layers of one test. `scale` shrinks the load tests for layers whose every
// operation is a network round trip.
struct InMemoryLayers {
    static constexpr int scale = 10;
    std::unique_ptr<ChannelLayer> make(LayerSettings settings) {
        return std::make_unique<canal::InMemoryChannelLayer>(settings);
    }
};

struct RedisLayers {
    static constexpr int scale = 1;
    canal::test::RedisProcess server;
    std::unique_ptr<ChannelLayer> make(LayerSettings settings) {
        canal::RedisLayerSettings s;
        static_cast<LayerSettings&>(s) = settings;
        s.hosts = {server.url()};
        s.receive_poll = 200ms;
        auto layer = std::make_unique<canal::RedisChannelLayer>(s);
        layer->wait_connected();
        return layer;
    }
};

struct RedisPubSubLayers {
    static constexpr int scale = 1;
    canal::test::RedisProcess server;
    std::unique_ptr<ChannelLayer> make(LayerSettings settings) {
        canal::RedisPubSubLayerSettings s;
        static_cast<LayerSettings&>(s) = settings;
        s.hosts = {server.url()};
        auto layer = std::make_unique<canal::RedisPubSubChannelLayer>(s);
        layer->wait_connected();
        return layer;
    }
};

// Every layer.
using Layers = boost::mpl::list<InMemoryLayers, RedisLayers, RedisPubSubLayers>;
// The layers that store messages: a message sent before anyone receives on its channel
// waits for them, send() throws ChannelFull at capacity, group_send() waits for room. Redis
// pub/sub keeps nothing and cannot push back (a message to a channel nobody subscribes to is
// lost, a full local queue drops), so RedisPubSubChannelLayer is left out of these tests;
// tests/redis/redis_pubsub_layer_test.cpp checks what it does instead.
using StoringLayers = boost::mpl::list<InMemoryLayers, RedisLayers>;

std::atomic<std::int64_t> marker_ids{0};

// True when `channel` holds no message: a marker sent now is the next one received.
awaitable<bool> is_empty(ChannelLayer& layer, std::string channel) {
    auto const id = ++marker_ids;
    co_await layer.send(channel, numbered("test.marker", id));
    auto const next = co_await layer.receive(channel);
    co_return next.type() == "test.marker" && next.at("n").as_int64() == id;
}

awaitable<void> group_send_numbered(ChannelLayer& layer, std::string group, std::int64_t sender,
                                    int count) {
    for (int i = 0; i < count; ++i) {
        boost::json::object obj;
        obj["type"] = "count";
        obj["sender"] = sender;
        obj["n"] = i;
        co_await layer.group_send(group, Message(std::move(obj)));
    }
}

// What one receiver of the concurrency test saw. Boost.Test assertions are not
// thread-safe: threads record, the main thread checks.
constexpr int senders = 4;
struct Tally {
    int received = 0;
    int out_of_order = 0;
    std::vector<std::int64_t> next = std::vector<std::int64_t>(senders, 0);
    std::exception_ptr failure;
};

// The "n" of a numbered() message (a function: g++ 12 misparses `(co_await x).f()` in
// templates).
std::int64_t n_of(Message const& m) { return m.at("n").as_int64(); }

bool is_operation_aborted(std::exception_ptr e) {
    if (!e) {
        return false;
    }
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& error) {
        return error.code() == net::error::operation_aborted;
    } catch (...) {
        return false;
    }
}

void rethrow(std::exception_ptr e) {
    if (e) {
        std::rethrow_exception(e);
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(layer_contract)

BOOST_AUTO_TEST_CASE_TEMPLATE(receives_in_send_order, Factory, StoringLayers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    run_async([&]() -> awaitable<void> {
        // A named channel, and a process-specific one from new_channel().
        std::vector<std::string> channels;
        channels.emplace_back("inbox");
        channels.push_back(co_await layer->new_channel());
        for (auto const& channel : channels) {
            for (int i = 0; i < 5; ++i) {
                co_await layer->send(channel, numbered("chat.message", i));
            }
            for (int i = 0; i < 5; ++i) {
                auto const m = co_await layer->receive(channel);
                BOOST_TEST(m.type() == "chat.message");
                BOOST_TEST(m.at("n").as_int64() == i);
            }
            BOOST_TEST(co_await is_empty(*layer, channel));
        }
    });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_message_arrives_as_it_was_sent, Factory, Layers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    run_async([&]() -> awaitable<void> {
        auto sent = boost::json::parse(R"({"type": "chat.message", "text": "héllo \"x\"",
            "n": -3, "big": 1099511627776, "zero": 0, "f": 1.5, "yes": true, "no": false,
            "none": null, "list": [1, "two", [3, {"four": 4}]], "obj": {"k": "v", "e": {}}})")
                        .as_object();
        auto const channel = co_await layer->new_channel();
        co_await layer->send(channel, Message(sent));
        auto const got = co_await layer->receive(channel);
        BOOST_TEST(got.object() == sent, boost::json::serialize(got.object()));
        // What consumers do with numbers works the same on every layer.
        BOOST_TEST(got.at("n").as_int64() == -3);
        BOOST_TEST(got.at("zero").as_int64() == 0);
        BOOST_TEST(got.at("big").as_int64() == 1099511627776);
        BOOST_TEST(got.at("f").as_double() == 1.5);
    });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(send_throws_channel_full_at_capacity, Factory, StoringLayers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{.capacity = 3});
    run_async([&]() -> awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            co_await layer->send("inbox", numbered("m", i));
        }
        CANAL_CO_CHECK_THROW(canal::ChannelFull, co_await layer->send("inbox", numbered("m", 3)),
                             "channel 'inbox' is full (capacity 3)");
        co_await layer->send("other", numbered("m", 0)); // another channel is not affected
        BOOST_TEST(n_of(co_await layer->receive("inbox")) == 0);
        co_await layer->send("inbox", numbered("m", 4)); // receiving made room for one
        CANAL_CO_CHECK_THROW(canal::ChannelFull, co_await layer->send("inbox", numbered("m", 5)),
                             "channel 'inbox' is full");
        for (int n : {1, 2, 4}) {
            BOOST_TEST(n_of(co_await layer->receive("inbox")) == n);
        }
        BOOST_TEST(n_of(co_await layer->receive("other")) == 0);
    });
    BOOST_TEST(layer->dropped_count() == 0u); // send throws, it does not count
}

namespace {

// Sends to `channel` until it is full; how many it took.
awaitable<int> fill(ChannelLayer& layer, std::string channel) {
    for (int i = 0;; ++i) {
        bool full = false;
        try {
            co_await layer.send(channel, numbered("m", i));
        } catch (canal::ChannelFull const&) {
            full = true;
        }
        if (full) {
            co_return i;
        }
    }
}

} // namespace

// channel_capacity patterns (channels_redis' and Channels' in-memory layer's): the first
// matching glob gives the capacity, for send() and for group_send() alike.
BOOST_AUTO_TEST_CASE_TEMPLATE(channel_capacity_patterns_bound_matching_channels, Factory,
                              StoringLayers) {
    Factory factory;
    LayerSettings settings{.capacity = 4, .backpressure_timeout = 100ms};
    settings.channel_capacity = {{"small.*", 2}, {"small.big", 9}, {"one?", 1}};
    std::unique_ptr<ChannelLayer> layer = factory.make(settings);
    run_async([&]() -> awaitable<void> {
        BOOST_TEST(co_await fill(*layer, "small.a") == 2);
        BOOST_TEST(co_await fill(*layer, "small.big") == 2); // the first matching pattern wins
        BOOST_TEST(co_await fill(*layer, "one1") == 1);
        BOOST_TEST(co_await fill(*layer, "one12") == 4); // the whole name must match
        BOOST_TEST(co_await fill(*layer, "other") == 4);
        CANAL_CO_CHECK_THROW(canal::ChannelFull, co_await layer->send("small.a", numbered("m", 9)),
                             "channel 'small.a' is full (capacity 2)");
        // group_send: "one2" holds one message, so the second is given up and counted.
        co_await layer->group_add("room", "one2");
        co_await layer->group_send("room", numbered("room.message", 1));
        co_await layer->group_send("room", numbered("room.message", 2));
        BOOST_TEST(layer->dropped_count() == 1u);
    });
}

// Returns once layer.settle() has (from another thread: settle() blocks): a pipelined
// group_send() has then had its answer, and any wait for room is over.
awaitable<void> settled(ChannelLayer& layer) {
    auto done = std::async(std::launch::async, [&layer] { return layer.settle(10s); });
    net::steady_timer tick(co_await net::this_coro::executor);
    while (done.wait_for(0s) != std::future_status::ready) {
        tick.expires_after(5ms);
        co_await tick.async_wait(net::use_awaitable);
    }
    BOOST_TEST(done.get());
}

// A member still full after backpressure_timeout misses the message, and it is counted.
BOOST_AUTO_TEST_CASE_TEMPLATE(group_send_gives_up_a_member_full_too_long, Factory, StoringLayers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer =
        factory.make(LayerSettings{.capacity = 3, .backpressure_timeout = 200ms});
    run_async([&]() -> awaitable<void> {
        co_await layer->group_add("room", "full");
        co_await layer->group_add("room", "free");
        for (int i = 0; i < 3; ++i) {
            co_await layer->send("full", numbered("own", i));
        }
        auto const start = std::chrono::steady_clock::now();
        co_await layer->group_send("room", numbered("room.message", 1));
        co_await settled(*layer);
        BOOST_TEST((std::chrono::steady_clock::now() - start >= 200ms)); // it waited for room
        BOOST_TEST(layer->dropped_count() == 1u);
        auto const got = co_await layer->receive("free");
        BOOST_TEST(got.type() == "room.message");
    });
}

// A member that makes room while group_send waits gets the message, after its own ones.
BOOST_AUTO_TEST_CASE_TEMPLATE(group_send_waits_for_room_in_a_full_member, Factory, StoringLayers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer =
        factory.make(LayerSettings{.capacity = 3, .backpressure_timeout = 5s});
    run_async([&]() -> awaitable<void> {
        co_await layer->group_add("room", "full");
        co_await layer->group_add("room", "free");
        for (int i = 0; i < 3; ++i) {
            co_await layer->send("full", numbered("own", i));
        }
        auto ex = co_await net::this_coro::executor;
        net::co_spawn(
            ex,
            [&]() -> awaitable<void> {
                net::steady_timer t(ex, 100ms);
                co_await t.async_wait(net::use_awaitable);
                BOOST_TEST(n_of(co_await layer->receive("full")) == 0);
            },
            [](std::exception_ptr e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
        co_await layer->group_send("room", numbered("room.message", 9));
        co_await settled(*layer);
        BOOST_TEST(layer->dropped_count() == 0u);
        BOOST_TEST(n_of(co_await layer->receive("free")) == 9);
        BOOST_TEST(n_of(co_await layer->receive("full")) == 1);
        BOOST_TEST(n_of(co_await layer->receive("full")) == 2);
        auto const last = co_await layer->receive("full");
        BOOST_TEST(last.type() == "room.message");
        BOOST_TEST(n_of(last) == 9);
    });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(group_send_reaches_every_member_once, Factory, Layers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    run_async([&]() -> awaitable<void> {
        std::vector<std::string> members;
        for (int i = 0; i < 3; ++i) {
            members.push_back(co_await layer->new_channel());
        }
        members.emplace_back("named-member");
        for (auto const& m : members) {
            co_await layer->group_add("room", m);
        }
        co_await layer->group_add("room", members.front()); // twice: delivered once
        auto const outsider = co_await layer->new_channel();
        co_await layer->group_add("other", outsider);
        co_await layer->group_send("room", numbered("room.message", 7));
        for (auto const& m : members) {
            auto const got = co_await layer->receive(m);
            BOOST_TEST(got.type() == "room.message");
            BOOST_TEST(got.at("n").as_int64() == 7);
            BOOST_TEST(co_await is_empty(*layer, m), m);
        }
        BOOST_TEST(co_await is_empty(*layer, outsider));
        co_await layer->group_send("nobody", numbered("room.message", 8)); // nothing happens
    });
    BOOST_TEST(layer->dropped_count() == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(group_discard_stops_delivery, Factory, Layers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    run_async([&]() -> awaitable<void> {
        auto const a = co_await layer->new_channel();
        auto const b = co_await layer->new_channel();
        co_await layer->group_add("room", a);
        co_await layer->group_add("room", b);
        co_await layer->group_discard("room", a);
        co_await layer->group_discard("room", "not-a-member"); // no-op
        co_await layer->group_discard("no-such-group", a);     // no-op
        co_await layer->group_send("room", numbered("room.message", 1));
        BOOST_TEST(n_of(co_await layer->receive(b)) == 1);
        BOOST_TEST(co_await is_empty(*layer, a));
        co_await layer->group_discard("room", b);
        co_await layer->group_send("room", numbered("room.message", 2));
        BOOST_TEST(co_await is_empty(*layer, b));
        co_await layer->group_add("room", b); // joining again works
        co_await layer->group_send("room", numbered("room.message", 3));
        BOOST_TEST(n_of(co_await layer->receive(b)) == 3);
    });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(new_channel_names_are_unique_and_valid, Factory, Layers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    run_async([&]() -> awaitable<void> {
        std::set<std::string> names;
        for (int i = 0; i < 200; ++i) {
            auto name = co_await layer->new_channel();
            BOOST_TEST(ChannelLayer::is_valid_channel_name(name), name);
            BOOST_TEST(name.starts_with("specific."), name);
            BOOST_TEST(name.find('!') != std::string::npos, name);
            BOOST_TEST(name.back() != '!', name);
            names.insert(std::move(name));
        }
        BOOST_TEST(names.size() == 200u);
        auto const custom = co_await layer->new_channel("worker");
        BOOST_TEST(custom.starts_with("worker."), custom);
        BOOST_TEST(ChannelLayer::is_valid_channel_name(custom), custom);
        CANAL_CO_CHECK_THROW(canal::InvalidName, (void)co_await layer->new_channel("bad prefix"),
                             "channel prefix 'bad prefix'");
    });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(flush_drops_channels_and_groups, Factory, StoringLayers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    run_async([&]() -> awaitable<void> {
        auto const member = co_await layer->new_channel();
        co_await layer->send("inbox", numbered("old", 1));
        co_await layer->send(member, numbered("old", 2));
        co_await layer->group_add("room", member);
        co_await layer->flush();
        BOOST_TEST(co_await is_empty(*layer, "inbox"));
        BOOST_TEST(co_await is_empty(*layer, member));
        co_await layer->group_send("room", numbered("room.message", 1));
        BOOST_TEST(co_await is_empty(*layer, member));
        // The layer works as before after a flush.
        co_await layer->group_add("room", member);
        co_await layer->group_send("room", numbered("room.message", 2));
        BOOST_TEST(n_of(co_await layer->receive(member)) == 2);
    });
}

BOOST_AUTO_TEST_CASE_TEMPLATE(receive_resumes_on_its_strand_when_another_thread_sends, Factory,
                              Layers) {
    net::io_context ioc; // outlives the layer (see canal::test::ContextLease)
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    auto const channel = run_sync(layer->new_channel());
    auto strand = net::make_strand(ioc);
    std::thread sender;
    std::optional<Message> got;
    bool on_strand = false;
    std::thread::id resumed_on;
    net::co_spawn(
        strand,
        [&]() -> awaitable<void> {
            // Runs after this coroutine waits inside receive(): the send must wake it.
            net::post(strand, [&] {
                sender = std::thread([&] { run_sync(layer->send(channel, numbered("hello", 1))); });
            });
            got = co_await layer->receive(channel);
            on_strand = strand.running_in_this_thread();
            resumed_on = std::this_thread::get_id();
        },
        rethrow);
    ioc.run_for(canal::test::run_deadline);
    sender.join();
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->type() == "hello");
    BOOST_TEST(on_strand);
    BOOST_TEST((resumed_on == std::this_thread::get_id()));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(a_cancelled_receive_loses_nothing, Factory, Layers) {
    net::io_context ioc; // outlives the layer (see canal::test::ContextLease)
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    auto const channel = run_sync(layer->new_channel());
    net::cancellation_signal cancel;
    std::exception_ptr failure;
    bool finished = false;
    net::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            net::post(ioc, [&] { cancel.emit(net::cancellation_type::terminal); });
            (void)co_await layer->receive(channel);
        },
        net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
            failure = e;
            finished = true;
        }));
    ioc.run_for(canal::test::run_deadline);
    BOOST_REQUIRE(finished);
    BOOST_TEST(is_operation_aborted(failure));
    // The cancelled receive() is gone: what is sent afterwards goes to the next one.
    run_sync(layer->send(channel, numbered("later", 1)));
    run_sync(layer->send(channel, numbered("later", 2)));
    BOOST_TEST(run_sync(layer->receive(channel)).at("n").as_int64() == 1);
    BOOST_TEST(run_sync(layer->receive(channel)).at("n").as_int64() == 2);
}

// What a consumer's own loop uses: a message when there is one, nothing (no exception)
// when cancelled, and a cancelled wait loses nothing either.
BOOST_AUTO_TEST_CASE_TEMPLATE(receive_until_cancelled_ends_without_an_exception, Factory, Layers) {
    net::io_context ioc; // outlives the layer (see canal::test::ContextLease)
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    auto const channel = run_sync(layer->new_channel());
    run_sync(layer->send(channel, numbered("first", 1)));
    auto first = run_sync(layer->receive_until_cancelled(channel));
    BOOST_REQUIRE(first.has_value());
    BOOST_TEST(first->at("n").as_int64() == 1);

    net::cancellation_signal cancel;
    std::exception_ptr failure;
    bool finished = false;
    bool got_nothing = false;
    net::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            net::post(ioc, [&] { cancel.emit(net::cancellation_type::terminal); });
            auto m = co_await layer->receive_until_cancelled(channel);
            got_nothing = !m.has_value();
        },
        net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
            failure = e;
            finished = true;
        }));
    ioc.run_for(canal::test::run_deadline);
    BOOST_REQUIRE(finished);
    BOOST_TEST(!failure);
    BOOST_TEST(got_nothing);
    run_sync(layer->send(channel, numbered("later", 2)));
    BOOST_TEST(run_sync(layer->receive(channel)).at("n").as_int64() == 2);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(concurrent_group_sends_reach_every_member_in_sender_order, Factory,
                              Layers) {
    constexpr int per_sender = 25 * Factory::scale;
    constexpr int members = 5;
    net::io_context receivers; // outlives the layer (see canal::test::ContextLease)
    Factory factory;
    std::unique_ptr<ChannelLayer> layer =
        factory.make(LayerSettings{.capacity = senders * per_sender + 1});
    std::vector<std::string> channels;
    for (int m = 0; m < members; ++m) {
        channels.push_back(run_sync(layer->new_channel()));
        run_sync(layer->group_add("all", channels.back()));
    }
    std::vector<Tally> tallies(members);
    for (int m = 0; m < members; ++m) {
        net::co_spawn(
            net::make_strand(receivers),
            [&layer, &tally = tallies[m], channel = channels[m]]() -> awaitable<void> {
                for (int i = 0; i < senders * per_sender; ++i) {
                    auto const message = co_await layer->receive(channel);
                    auto const sender = message.at("sender").as_int64();
                    auto const seq = message.at("n").as_int64();
                    if (seq != tally.next[sender]) {
                        ++tally.out_of_order;
                    }
                    tally.next[sender] = seq + 1;
                    ++tally.received;
                }
            },
            [&tally = tallies[m]](std::exception_ptr e) { tally.failure = e; });
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&] { receivers.run_for(canal::test::run_deadline); });
    }
    std::vector<std::exception_ptr> send_failures(senders);
    for (int s = 0; s < senders; ++s) {
        threads.emplace_back([&layer, &send_failures, s] {
            try {
                run_sync(group_send_numbered(*layer, "all", s, per_sender));
            } catch (...) {
                send_failures[s] = std::current_exception();
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (auto const& f : send_failures) {
        BOOST_TEST(!f);
    }
    for (auto const& tally : tallies) {
        BOOST_TEST(!tally.failure);
        BOOST_TEST(tally.received == senders * per_sender);
        BOOST_TEST(tally.out_of_order == 0);
        for (auto const next : tally.next) {
            BOOST_TEST(next == per_sender);
        }
    }
    BOOST_TEST(layer->dropped_count() == 0u);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(operations_reject_invalid_names, Factory, Layers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    run_async([&]() -> awaitable<void> {
        auto const m = numbered("x", 1);
        CANAL_CO_CHECK_THROW(canal::InvalidName, co_await layer->send("bad name", m),
                             "channel name 'bad name' is invalid");
        CANAL_CO_CHECK_THROW(canal::InvalidName, (void)co_await layer->receive("!bad"),
                             "channel name '!bad' is invalid");
        CANAL_CO_CHECK_THROW(canal::InvalidName, co_await layer->group_add("a!b", "ok"),
                             "group name 'a!b' is invalid");
        CANAL_CO_CHECK_THROW(canal::InvalidName, co_await layer->group_add("ok", "bad name"),
                             "channel name 'bad name' is invalid");
        CANAL_CO_CHECK_THROW(canal::InvalidName, co_await layer->group_discard("chat lobby", "ok"),
                             "group name 'chat lobby' is invalid");
        CANAL_CO_CHECK_THROW(canal::InvalidName, co_await layer->group_send("", m),
                             "group name '' is invalid");
        CANAL_CO_CHECK_THROW(canal::InvalidName, co_await layer->send(std::string(100, 'c'), m),
                             "channel name 'ccc");
    });
}

// ---- presence ----

// Every built-in layer has presence (a layer of one's own without it: checked below).
using PresenceLayers = Layers;

BOOST_AUTO_TEST_CASE_TEMPLATE(presence_tracks_lists_and_tells_the_group, Factory, PresenceLayers) {
    Factory factory;
    std::unique_ptr<ChannelLayer> layer = factory.make(LayerSettings{});
    run_async([&]() -> awaitable<void> {
        auto const watcher = co_await layer->new_channel();
        auto const ann = co_await layer->new_channel();
        auto const bob = co_await layer->new_channel();
        co_await layer->group_add("room", watcher);
        BOOST_TEST(layer->has_presence());
        auto const nobody_yet = co_await layer->group_members("room");
        BOOST_TEST(nobody_yet.empty());

        co_await layer->presence_track("room", ann, meta_of("ann"));
        auto diff = co_await receive_within(*layer, watcher, 2000ms);
        BOOST_REQUIRE(diff);
        BOOST_TEST(diff->type() == "presence.diff");
        BOOST_TEST(diff->at("group").as_string() == "room");
        BOOST_TEST(diff->at("joins").as_object().at(ann).at("username").as_string() == "ann");
        BOOST_TEST(diff->at("leaves").as_object().empty());

        co_await layer->presence_track("room", bob, meta_of("bob"));
        BOOST_REQUIRE(co_await receive_within(*layer, watcher, 2000ms));
        auto members = co_await layer->group_members("room");
        std::set<std::string> names;
        for (auto const& m : members) {
            names.insert(std::string(m.meta.at("username").as_string()) + "@" + m.channel);
        }
        BOOST_TEST(names == (std::set<std::string>{"ann@" + ann, "bob@" + bob}));
        auto const elsewhere = co_await layer->group_members("elsewhere");
        BOOST_TEST(elsewhere.empty());

        co_await layer->presence_untrack("room", ann);
        diff = co_await receive_within(*layer, watcher, 2000ms);
        BOOST_REQUIRE(diff);
        BOOST_TEST(diff->at("joins").as_object().empty());
        BOOST_TEST(diff->at("leaves").as_object().at(ann).at("username").as_string() == "ann");
        auto const after_leave = co_await layer->group_members("room");
        BOOST_TEST(after_leave.size() == 1U);

        // Untracking what is not tracked says nothing.
        co_await layer->presence_untrack("room", ann);
        BOOST_TEST(!(co_await receive_within(*layer, watcher, 300ms)));

        // A meta over 4 KiB and bad names are refused.
        boost::json::object big;
        big["blob"] = std::string(5000, 'x');
        BOOST_CHECK_THROW(co_await layer->presence_track("room", bob, big), canal::Error);
        BOOST_CHECK_THROW(co_await layer->presence_track("bad group", bob, meta_of("b")),
                          canal::InvalidName);
        BOOST_CHECK_THROW(co_await layer->group_members("bad group"), canal::InvalidName);

        co_await layer->flush();
        auto const after_flush = co_await layer->group_members("room");
        BOOST_TEST(after_flush.empty());
    });
}

namespace {

// A layer of one's own that does not implement presence: ChannelLayer's defaults apply.
class NoPresenceLayer final : public ChannelLayer {
public:
    awaitable<void> send(std::string, canal::Message) override { co_return; }
    awaitable<canal::Message> receive(std::string) override {
        throw canal::Error("NoPresenceLayer receives nothing");
    }
    awaitable<std::string> new_channel(std::string prefix) override { co_return prefix + ".!x"; }
    awaitable<void> group_add(std::string, std::string) override { co_return; }
    awaitable<void> group_discard(std::string, std::string) override { co_return; }
    awaitable<void> group_send(std::string, canal::Message) override { co_return; }
    awaitable<void> flush() override { co_return; }
    [[nodiscard]] std::size_t dropped_count() const noexcept override { return 0; }
};

} // namespace

BOOST_AUTO_TEST_CASE(a_layer_without_presence_says_so) {
    std::unique_ptr<ChannelLayer> layer = std::make_unique<NoPresenceLayer>();
    BOOST_TEST(!layer->has_presence());
    run_async([&]() -> awaitable<void> {
        BOOST_CHECK_EXCEPTION(co_await layer->presence_track("room", "c", meta_of("ann")),
                              canal::Error, [](canal::Error const& e) {
                                  return std::string(e.what()).find("no presence") !=
                                         std::string::npos;
                              });
        BOOST_CHECK_THROW(co_await layer->group_members("room"), canal::Error);
    });
}

BOOST_AUTO_TEST_SUITE_END()
