// RedisPubSubChannelLayer beyond the common contract (tests/layers/layer_contract_test.cpp):
// channels_redis.pubsub's wire format, what pub/sub does not keep, full local queues,
// malformed payloads, Redis restarts, flush, and selection by make_channel_layer().
// g++ 12 at -O1 (the TSan build) reports a false maybe-uninitialized inside Asio's
// parallel group (awaitable operator ||) over std::optional<Message>.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <canal/layers/redis_pubsub_channel_layer.hpp>

#include "layers/redis_wire.hpp"
#include "redis/subscriber.hpp"

#include <canal/core/errors.hpp>
#include <canal/layers/make_channel_layer.hpp>
#include <canal/layers/redis_channel_layer.hpp>
#include <canal/redis/client.hpp>

#include "support/async_run.hpp"
#include "support/redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <mutex>
#include <optional>
#include <random>
#include <thread>

using namespace std::chrono_literals;

namespace {

using canal::awaitable;
using canal::ChannelLayer;
using canal::Message;
using canal::RedisPubSubChannelLayer;
using canal::RedisPubSubLayerSettings;
using canal::redis::Client;
using canal::redis::Command;
using canal::redis::Url;
using canal::test::numbered;
using canal::test::RedisProcess;
using canal::test::run_sync;
namespace net = canal::net;

RedisPubSubLayerSettings settings_for(std::string const& url) {
    RedisPubSubLayerSettings s;
    s.hosts = {url};
    s.connect_timeout = 1000ms;
    return s;
}

awaitable<std::optional<Message>> receive_for(ChannelLayer& layer, std::string channel,
                                              std::chrono::milliseconds limit) {
    using namespace boost::asio::experimental::awaitable_operators;
    auto const ex = co_await net::this_coro::executor;
    net::steady_timer timer(ex, limit);
    auto receive = layer.receive_until_cancelled(std::move(channel));
    auto wait = timer.async_wait(net::use_awaitable);
    auto result = co_await (std::move(receive) || std::move(wait));
    if (result.index() == 0) {
        co_return std::get<0>(result);
    }
    co_return std::nullopt;
}

// The next message of `channel` within `limit`, or nothing.
std::optional<Message> receive_within(ChannelLayer& layer, std::string channel,
                                      std::chrono::milliseconds limit = 2000ms) {
    return run_sync(receive_for(layer, std::move(channel), limit));
}

long long publish(Client& raw, std::string channel, std::string payload) {
    Command cmd{"PUBLISH", std::move(channel), std::move(payload)};
    return run_sync(raw.command(std::move(cmd))).integer;
}

// What a raw subscriber (canal's own Subscriber on a thread of its own) sees on Redis.
struct RawSubscriber {
    explicit RawSubscriber(Url url) {
        canal::redis::detail::Subscriber::Handler handler = [this](std::string const& channel,
                                                                   std::string const& payload) {
            std::lock_guard lock(mutex);
            received.emplace_back(channel, payload);
        };
        subscriber.emplace(ctx.get_executor(), std::move(url), canal::redis::ClientOptions{},
                           std::move(handler));
        thread = std::thread([this] { ctx.run(); });
    }
    RawSubscriber(RawSubscriber const&) = delete;
    RawSubscriber& operator=(RawSubscriber const&) = delete;
    ~RawSubscriber() {
        net::post(ctx, [this] { subscriber->close(); });
        work.reset();
        thread.join();
    }
    void subscribe(std::string channel) {
        net::co_spawn(ctx, subscriber->subscribe(std::move(channel)), net::use_future).get();
    }
    std::optional<std::pair<std::string, std::string>> next(std::chrono::milliseconds limit) {
        auto const deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            {
                std::lock_guard lock(mutex);
                if (taken < received.size()) {
                    return received[taken++];
                }
            }
            if (std::chrono::steady_clock::now() > deadline) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(5ms);
        }
    }

    net::io_context ctx{1};
    net::executor_work_guard<net::io_context::executor_type> work{ctx.get_executor()};
    std::optional<canal::redis::detail::Subscriber> subscriber;
    std::thread thread;
    std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> received;
    std::size_t taken = 0;
};

// The payload as channels_redis.pubsub writes it: msgpack.packb(message), no prefix.
std::string packb(Message const& message) {
    std::mt19937_64 rng(1);
    auto const framed =
        canal::detail::encode_payload(message.object(), canal::detail::AsgiChannel{}, rng);
    return framed.substr(12);
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_pubsub_layer)

BOOST_AUTO_TEST_CASE(settings_are_checked) {
    auto const make = [](RedisPubSubLayerSettings s) { RedisPubSubChannelLayer layer(s); };
    RedisPubSubLayerSettings s;
    s.hosts.clear();
    BOOST_CHECK_THROW(make(s), std::invalid_argument);
    s = settings_for("http://127.0.0.1:1");
    BOOST_CHECK_THROW(make(s), std::invalid_argument);
    s = settings_for("redis://127.0.0.1:1");
    s.capacity = 0;
    BOOST_CHECK_THROW(make(s), std::invalid_argument);
    s = settings_for("redis://127.0.0.1:1");
    s.prefix = "has space";
    BOOST_CHECK_THROW(make(s), std::invalid_argument);
}

// channels_redis.pubsub: a channel is the pub/sub channel of its name, a group is
// `{prefix}__group__{group}`, a message is published once as a plain msgpack map.
BOOST_AUTO_TEST_CASE(wire_format_is_channels_redis_pubsubs) {
    RedisProcess server;
    auto settings = settings_for(server.url());
    settings.prefix = "myapp";
    RedisPubSubChannelLayer layer(settings);
    layer.wait_connected();
    RawSubscriber raw(Url::parse(server.url()));
    raw.subscribe("myapp__group__room");
    raw.subscribe("asgispecific.0123abcd"); // a name channels_redis.pubsub's new_channel() makes
    auto const message = boost::json::parse(R"({"type": "chat.message", "text": "hi", "n": 1})");
    run_sync(layer.group_send("room", Message(message.as_object())));
    run_sync(layer.send("asgispecific.0123abcd", numbered("direct", 2)));
    auto const group = raw.next(2000ms);
    BOOST_REQUIRE(group.has_value());
    BOOST_TEST(group->first == "myapp__group__room");
    BOOST_TEST(group->second == packb(Message(message.as_object())));
    BOOST_TEST(static_cast<unsigned char>(group->second.front()) == 0x83u); // fixmap, 3 entries
    auto const direct = raw.next(2000ms);
    BOOST_REQUIRE(direct.has_value());
    BOOST_TEST(direct->first == "asgispecific.0123abcd");
    BOOST_TEST(direct->second == packb(numbered("direct", 2)));

    // And the other way: bytes published by another process reach the channel and group.
    auto const channel = run_sync(layer.new_channel());
    run_sync(layer.group_add("room", channel));
    Client publisher(Url::parse(server.url()));
    run_sync(publisher.connect());
    BOOST_TEST(publish(publisher, channel, packb(numbered("from.python", 3))) == 1);
    BOOST_TEST(publish(publisher, "myapp__group__room", packb(numbered("from.python", 4))) >= 1);
    auto const first = receive_within(layer, channel);
    BOOST_REQUIRE(first.has_value());
    BOOST_TEST(first->type() == "from.python");
    BOOST_TEST(first->at("n").as_int64() == 3);
    auto const second = receive_within(layer, channel);
    BOOST_REQUIRE(second.has_value());
    BOOST_TEST(second->at("n").as_int64() == 4);
}

// Pub/sub keeps nothing: what is sent to a channel nobody subscribes to is lost, and
// send() does not say so (as channels_redis.pubsub).
BOOST_AUTO_TEST_CASE(a_message_to_nobody_is_lost) {
    RedisProcess server;
    RedisPubSubChannelLayer layer(settings_for(server.url()));
    layer.wait_connected();
    run_sync(layer.send("inbox", numbered("lost", 1)));
    run_sync(layer.group_send("empty-room", numbered("lost", 2)));
    BOOST_TEST(!receive_within(layer, "inbox", 300ms).has_value()); // subscribes "inbox" now
    run_sync(layer.send("inbox", numbered("kept", 3)));
    auto const got = receive_within(layer, "inbox");
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->at("n").as_int64() == 3);
    BOOST_TEST(layer.dropped_count() == 0u);
}

// A full local queue cannot push back on the publisher: the message is dropped, counted,
// and the receiver is told (ChannelOverflow), as when the other layers give a member up.
BOOST_AUTO_TEST_CASE(a_full_local_channel_drops_and_tells_its_receiver) {
    RedisProcess server;
    auto settings = settings_for(server.url());
    settings.capacity = 2;
    RedisPubSubChannelLayer layer(settings);
    layer.wait_connected();
    auto const full = run_sync(layer.new_channel());
    auto const other = run_sync(layer.new_channel());
    run_sync(layer.group_add("room", full));
    run_sync(layer.group_add("room", other));
    for (int i = 0; i < 3; ++i) {
        run_sync(layer.group_send("room", numbered("room.message", i)));
        auto const got = receive_within(layer, other);
        BOOST_REQUIRE(got.has_value());
        BOOST_TEST(got->at("n").as_int64() == i);
    }
    BOOST_TEST(layer.dropped_count() == 1u);
    BOOST_CHECK_THROW(run_sync(layer.receive(full)), canal::ChannelOverflow);
    // The channel works again afterwards.
    run_sync(layer.send(full, numbered("again", 9)));
    auto const again = receive_within(layer, full);
    BOOST_REQUIRE(again.has_value());
    BOOST_TEST(again->at("n").as_int64() == 9);
}

BOOST_AUTO_TEST_CASE(a_malformed_payload_is_skipped_and_counted) {
    RedisProcess server;
    RedisPubSubChannelLayer layer(settings_for(server.url()));
    layer.wait_connected();
    auto const channel = run_sync(layer.new_channel());
    run_sync(layer.group_add("room", channel));
    Client raw(Url::parse(server.url()));
    run_sync(raw.connect());
    BOOST_TEST(publish(raw, channel, "not msgpack \xc1") == 1);
    BOOST_TEST(publish(raw, "asgi__group__room", std::string("\x92\x01\x02", 3)) == 1); // a list
    BOOST_TEST(publish(raw, "asgi__group__room", "") == 1);
    run_sync(layer.send(channel, numbered("good", 1)));
    auto const got = receive_within(layer, channel);
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->at("n").as_int64() == 1);
    BOOST_TEST(layer.stats().malformed == 3u);
    BOOST_TEST(layer.stats().received == 1u);
}

BOOST_AUTO_TEST_CASE(flush_leaves_groups_and_drops_queued_messages) {
    RedisProcess server;
    RedisPubSubChannelLayer layer(settings_for(server.url()));
    layer.wait_connected();
    auto const member = run_sync(layer.new_channel());
    run_sync(layer.group_add("room", member));
    run_sync(layer.group_send("room", numbered("old", 1)));
    BOOST_TEST(receive_within(layer, member).has_value());
    run_sync(layer.send(member, numbered("old", 2)));
    // Flush once the message is queued locally (the layer counts it then).
    auto const deadline = std::chrono::steady_clock::now() + 5s;
    while (layer.stats().received < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    BOOST_TEST(layer.stats().received == 2u);
    run_sync(layer.flush());
    BOOST_TEST(!receive_within(layer, member, 300ms).has_value());
    run_sync(layer.group_send("room", numbered("room.message", 3)));
    BOOST_TEST(!receive_within(layer, member, 300ms).has_value());
    // The process's channel stays subscribed; joining again works.
    run_sync(layer.send(member, numbered("direct", 4)));
    auto const direct = receive_within(layer, member);
    BOOST_REQUIRE(direct.has_value());
    BOOST_TEST(direct->at("n").as_int64() == 4);
    run_sync(layer.group_add("room", member));
    run_sync(layer.group_send("room", numbered("room.message", 5)));
    auto const again = receive_within(layer, member);
    BOOST_REQUIRE(again.has_value());
    BOOST_TEST(again->at("n").as_int64() == 5);
}

BOOST_AUTO_TEST_CASE(redis_down_is_layer_unavailable_then_the_layer_resubscribes) {
    RedisProcess server;
    RedisPubSubChannelLayer layer(settings_for(server.url()));
    layer.wait_connected();
    auto const member = run_sync(layer.new_channel());
    run_sync(layer.group_add("room", member));

    server.stop();
    std::vector<std::string> errors;
    auto const record = [&](auto op) {
        try {
            run_sync(std::move(op));
            errors.emplace_back("(nothing thrown)");
        } catch (canal::LayerUnavailable const& e) {
            errors.emplace_back(e.what());
        } catch (std::exception const& e) {
            errors.emplace_back(std::string("not LayerUnavailable: ") + e.what());
        }
    };
    auto const start = std::chrono::steady_clock::now();
    record(layer.send(member, numbered("during", 1)));
    record(layer.group_send("room", numbered("during", 2)));
    // The subscriber sees the loss from its socket; new subscriptions then fail at once.
    std::string subscribe_error;
    while (std::chrono::steady_clock::now() - start < 5s) {
        try {
            (void)run_sync(layer.new_channel());
        } catch (canal::LayerUnavailable const& e) {
            subscribe_error = e.what();
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    errors.push_back(subscribe_error);
    for (auto const& e : errors) {
        BOOST_TEST(e.starts_with("Redis " + server.address()), e);
    }
    BOOST_TEST((std::chrono::steady_clock::now() - start < 3000ms));

    server.start(); // empty; pub/sub subscriptions are per connection anyway
    // The layer subscribes again by itself: a group_send reaches the member once it has.
    std::optional<Message> got;
    auto const deadline = std::chrono::steady_clock::now() + 10s;
    while (!got && std::chrono::steady_clock::now() < deadline) {
        try {
            run_sync(layer.group_send("room", numbered("after", 3)));
        } catch (canal::LayerUnavailable const&) {
            std::this_thread::sleep_for(20ms);
            continue;
        }
        got = receive_within(layer, member, 100ms);
    }
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->at("n").as_int64() == 3);
    run_sync(layer.send(member, numbered("direct", 4)));
    auto const direct = receive_within(layer, member);
    BOOST_REQUIRE(direct.has_value());
    BOOST_TEST(direct->at("n").as_int64() == 4);
}

BOOST_AUTO_TEST_CASE(make_channel_layer_picks_it_for_redis_pubsub_urls) {
    RedisProcess server;
    auto const url = "redis+pubsub://" + server.address();
    std::vector<std::string> urls{url};
    auto layer = canal::make_channel_layer(urls, canal::LayerSettings{}, "chatapp");
    auto* pubsub = dynamic_cast<RedisPubSubChannelLayer*>(layer.get());
    BOOST_REQUIRE(pubsub != nullptr);
    BOOST_TEST(pubsub->settings().hosts.front() == server.url());
    BOOST_TEST(pubsub->settings().prefix == "chatapp");
    std::vector<std::string> mixed{url, server.url()};
    BOOST_CHECK_THROW((void)canal::make_channel_layer(mixed), std::invalid_argument);
    std::vector<std::string> plain{server.url()};
    auto storing = canal::make_channel_layer(plain);
    BOOST_TEST((dynamic_cast<canal::RedisChannelLayer*>(storing.get()) != nullptr));
    auto const port = std::to_string(canal::test::free_loopback_port());
    std::vector<std::string> unreachable{"redis+pubsub://127.0.0.1:" + port};
    std::string what = "(nothing thrown)";
    try {
        (void)canal::make_channel_layer(unreachable);
    } catch (canal::Error const& e) {
        what = e.what();
    }
    BOOST_TEST(what.starts_with("Redis 127.0.0.1:" + port), what);
}

BOOST_AUTO_TEST_SUITE_END()
