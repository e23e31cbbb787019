// The pub/sub Subscriber: push parsing without sockets, then against a real redis-server
// (confirmation before return, delivery, unsubscribe, reconnect and resubscribe).
#include "redis/subscriber.hpp"

#include "redis/resp.hpp"

#include <canal/core/errors.hpp>

#include "support/async_run.hpp"
#include "support/redis_server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/test/unit_test.hpp>

#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

using canal::awaitable;
using canal::redis::Client;
using canal::redis::ClientOptions;
using canal::redis::Command;
using canal::redis::Reply;
using canal::redis::Url;
using canal::redis::detail::parse_push;
using canal::redis::detail::Push;
using canal::redis::detail::ReplyReader;
using canal::redis::detail::Subscriber;
using canal::test::RedisProcess;
using canal::test::run_sync;
namespace net = canal::net;

std::vector<Push> pushes_of(std::string const& wire) {
    ReplyReader reader;
    reader.feed(wire.data(), wire.size());
    std::vector<Push> out;
    while (auto reply = reader.next()) {
        out.push_back(parse_push(std::move(*reply)));
    }
    return out;
}

Reply reply_of(std::string const& wire) {
    ReplyReader reader;
    reader.feed(wire.data(), wire.size());
    auto reply = reader.next();
    BOOST_REQUIRE(reply);
    return std::move(*reply);
}

// A Subscriber on a thread of its own (it is single-threaded), with what it received.
struct Harness {
    explicit Harness(Url url) {
        ClientOptions options;
        options.connect_timeout = 1000ms;
        options.command_timeout = 2000ms;
        Subscriber::Handler handler = [this](std::string const& channel,
                                             std::string const& payload) {
            std::lock_guard lock(mutex);
            received.emplace_back(channel, payload);
        };
        subscriber.emplace(ctx.get_executor(), std::move(url), options, std::move(handler));
        thread = std::thread([this] { ctx.run(); });
    }
    Harness(Harness const&) = delete;
    Harness& operator=(Harness const&) = delete;
    ~Harness() {
        net::post(ctx, [this] { subscriber->close(); });
        work.reset();
        thread.join();
    }

    // Runs `op` on the subscriber's thread and waits for it.
    void run(awaitable<void> op) { net::co_spawn(ctx, std::move(op), net::use_future).get(); }
    void subscribe(std::string channel) { run(subscriber->subscribe(std::move(channel))); }
    void unsubscribe(std::string channel) {
        auto done = std::make_shared<std::promise<void>>();
        net::post(ctx, [this, channel, done] {
            subscriber->unsubscribe(channel);
            done->set_value();
        });
        done->get_future().get();
    }

    std::vector<std::pair<std::string, std::string>> got() {
        std::lock_guard lock(mutex);
        return received;
    }

    // Polls until `n` messages arrived, for up to `limit`.
    bool wait_for(std::size_t n, std::chrono::milliseconds limit = 5000ms) {
        auto const deadline = std::chrono::steady_clock::now() + limit;
        while (got().size() < n) {
            if (std::chrono::steady_clock::now() > deadline) {
                return false;
            }
            std::this_thread::sleep_for(5ms);
        }
        return true;
    }

    net::io_context ctx{1};
    net::executor_work_guard<net::io_context::executor_type> work{ctx.get_executor()};
    std::optional<Subscriber> subscriber;
    std::thread thread;
    std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> received;
};

long long publish(Client& raw, std::string channel, std::string payload) {
    Command cmd{"PUBLISH", std::move(channel), std::move(payload)};
    return run_sync(raw.command(std::move(cmd))).integer;
}

} // namespace

BOOST_AUTO_TEST_SUITE(subscriber)

BOOST_AUTO_TEST_CASE(push_arrays_are_parsed) {
    auto const pushes = pushes_of("*3\r\n$9\r\nsubscribe\r\n$4\r\nroom\r\n:1\r\n"
                                  "*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n$5\r\nhe\0lo\r\n"
                                  "*3\r\n$11\r\nunsubscribe\r\n$4\r\nroom\r\n:0\r\n"
                                  "*2\r\n$4\r\npong\r\n$0\r\n\r\n"
                                  "-ERR unknown command\r\n"
                                  "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"s);
    BOOST_REQUIRE(pushes.size() == 6u);
    BOOST_TEST((pushes[0].kind == Push::Kind::subscribe));
    BOOST_TEST(pushes[0].channel == "room");
    BOOST_TEST(pushes[0].count == 1);
    BOOST_TEST((pushes[1].kind == Push::Kind::message));
    BOOST_TEST(pushes[1].channel == "room");
    BOOST_TEST(pushes[1].payload == std::string("he\0lo", 5)); // binary-safe
    BOOST_TEST((pushes[2].kind == Push::Kind::unsubscribe));
    BOOST_TEST(pushes[2].count == 0);
    BOOST_TEST((pushes[3].kind == Push::Kind::pong));
    BOOST_TEST((pushes[4].kind == Push::Kind::error));
    BOOST_TEST(pushes[4].payload == "ERR unknown command");
    BOOST_TEST((pushes[5].kind == Push::Kind::unsubscribe)); // from a bare UNSUBSCRIBE
    BOOST_TEST(pushes[5].channel.empty());
}

BOOST_AUTO_TEST_CASE(anything_else_is_a_protocol_error) {
    for (std::string const wire :
         {"+OK\r\n", ":1\r\n", "$3\r\nabc\r\n", "*0\r\n", "*2\r\n$7\r\nmessage\r\n$4\r\nroom\r\n",
          "*3\r\n:1\r\n$4\r\nroom\r\n$1\r\nx\r\n",
          "*3\r\n$9\r\nsubscribe\r\n$4\r\nroom\r\n$1\r\nx\r\n",
          "*3\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nx\r\n"}) {
        BOOST_CHECK_THROW(parse_push(reply_of(wire)), canal::Error);
    }
}

BOOST_AUTO_TEST_CASE(published_messages_arrive_after_subscribe_returns) {
    RedisProcess server;
    auto const url = Url::parse(server.url());
    Harness h(url);
    Client raw(url);
    run_sync(raw.connect());
    h.subscribe("room");
    h.subscribe("room"); // once is enough: no second confirmation is waited for
    h.subscribe("other");
    // subscribe() returned after the confirmation: Redis counts the subscriber already.
    BOOST_TEST(publish(raw, "room", std::string("a\0b", 3)) == 1);
    BOOST_TEST(publish(raw, "other", "two") == 1);
    BOOST_TEST(publish(raw, "nobody", "lost") == 0);
    BOOST_REQUIRE(h.wait_for(2));
    auto const got = h.got();
    BOOST_TEST(got[0].first == "room");
    BOOST_TEST(got[0].second == std::string("a\0b", 3));
    BOOST_TEST(got[1].first == "other");
    BOOST_TEST(got[1].second == "two");

    h.unsubscribe("room");
    h.unsubscribe("never-subscribed"); // a no-op
    // The UNSUBSCRIBE was written before the next PUBLISH could be: poll Redis' own count.
    auto const deadline = std::chrono::steady_clock::now() + 5s;
    while (publish(raw, "room", "late") != 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    BOOST_TEST(publish(raw, "room", "late") == 0);
    BOOST_TEST(publish(raw, "other", "three") == 1);
    BOOST_REQUIRE(h.wait_for(3));
    auto const all = h.got();
    BOOST_TEST(all.back().first == "other");
    BOOST_TEST(all.back().second == "three");
}

BOOST_AUTO_TEST_CASE(an_unreachable_server_fails_subscribe_with_its_address) {
    auto const port = canal::test::free_loopback_port();
    auto const url = Url::parse("redis://127.0.0.1:" + std::to_string(port));
    Harness h(url);
    std::string what = "(nothing thrown)";
    try {
        h.subscribe("room");
    } catch (canal::redis::ConnectionError const& e) {
        what = e.what();
    }
    BOOST_TEST(what.starts_with("Redis 127.0.0.1:" + std::to_string(port)), what);
}

BOOST_AUTO_TEST_CASE(a_restarted_server_gets_every_subscription_again) {
    RedisProcess server;
    auto const url = Url::parse(server.url());
    Harness h(url);
    h.subscribe("room");
    h.subscribe("asgi__group__chat");
    server.stop();
    // While Redis is away, subscribe() fails at once.
    std::string what = "(nothing thrown)";
    auto const start = std::chrono::steady_clock::now();
    // The subscriber learns of the loss from its socket: give it a moment to read the EOF.
    while (std::chrono::steady_clock::now() - start < 5s) {
        try {
            h.subscribe("third");
        } catch (canal::redis::ConnectionError const& e) {
            what = e.what();
            break;
        }
        h.unsubscribe("third");
        std::this_thread::sleep_for(5ms);
    }
    BOOST_TEST(what.find("SUBSCRIBE failed") != std::string::npos, what);

    server.start();
    Client raw(url);
    run_sync(raw.connect());
    // Resubscribed by itself: PUBLISH reaches it again once Redis counts the subscriber.
    auto const deadline = std::chrono::steady_clock::now() + 10s;
    while (publish(raw, "asgi__group__chat", "back") == 0 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    BOOST_TEST(publish(raw, "room", "also back") == 1);
    BOOST_REQUIRE(h.wait_for(2));
    auto const got = h.got();
    BOOST_TEST(got[0].first == "asgi__group__chat");
    BOOST_TEST(got[1].second == "also back");
}

BOOST_AUTO_TEST_SUITE_END()
