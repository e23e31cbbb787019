// canal::redis::Client against real redis-servers: pipelining, scripts, errors, AUTH/SELECT,
// unreachable servers, and reconnection after a restart.
#include <canal/redis/client.hpp>

#include <canal/core/errors.hpp>

#include "support/async_run.hpp"
#include "support/redis_server.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>

using namespace std::chrono_literals;

namespace {

using canal::awaitable;
using canal::redis::Client;
using canal::redis::ClientOptions;
using canal::redis::Command;
using canal::redis::Reply;
using canal::redis::Script;
using canal::redis::Url;
using canal::test::RedisProcess;
using canal::test::run_async;
using canal::test::run_sync;
namespace net = canal::net;

Url url_of(RedisProcess const& server) { return Url::parse(server.url()); }

Reply run_command(Client& client, Command cmd) { return run_sync(client.command(std::move(cmd))); }

// What `cmd` throws as canal::Error ("(nothing thrown)" otherwise).
std::string error_of(Client& client, Command cmd) {
    try {
        (void)run_command(client, std::move(cmd));
    } catch (canal::Error const& e) {
        return e.what();
    }
    return "(nothing thrown)";
}

bool contains(std::string const& text, std::string const& part) {
    return text.find(part) != std::string::npos;
}

// Sends `count` ECHOs of distinct values one after another; counts the wrong replies.
awaitable<void> echo_many(Client& client, std::string tag, int count, std::atomic<int>& wrong,
                          std::atomic<int>& done) {
    for (int i = 0; i < count; ++i) {
        auto value = tag + "-" + std::to_string(i);
        Command echo{"ECHO", value};
        auto const reply = co_await client.command(std::move(echo));
        if (reply.str != value) {
            ++wrong;
        }
        ++done;
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_client)

BOOST_AUTO_TEST_CASE(concurrent_commands_from_several_threads_get_their_own_replies) {
    RedisProcess server;
    Client client(url_of(server));
    run_sync(client.connect());
    BOOST_TEST(client.connected());
    constexpr int threads = 4;
    constexpr int coroutines = 20;
    constexpr int per_coroutine = 25;
    std::atomic<int> wrong{0};
    std::atomic<int> done{0};
    std::vector<std::exception_ptr> failures(threads);
    std::vector<std::thread> workers;
    auto const trips_before = client.round_trips();
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            net::io_context ioc;
            for (int c = 0; c < coroutines; ++c) {
                auto tag = std::to_string(t) + "." + std::to_string(c);
                net::co_spawn(ioc, echo_many(client, std::move(tag), per_coroutine, wrong, done),
                              [&failures, t](std::exception_ptr e) {
                                  if (e) {
                                      failures[t] = e;
                                  }
                              });
            }
            ioc.run_for(canal::test::run_deadline);
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    for (auto const& f : failures) {
        BOOST_TEST(!f);
    }
    BOOST_TEST(done.load() == threads * coroutines * per_coroutine);
    BOOST_TEST(wrong.load() == 0);
    BOOST_TEST(client.round_trips() - trips_before ==
               static_cast<std::uint64_t>(threads * coroutines * per_coroutine));
}

BOOST_AUTO_TEST_CASE(a_pipeline_is_one_round_trip_and_returns_error_replies) {
    RedisProcess server;
    Client client(url_of(server));
    run_sync(client.connect());
    std::vector<Command> commands;
    commands.push_back(Command{"SET", "k", "v"});
    commands.push_back(Command{"INCR", "k"}); // an error, returned not thrown
    commands.push_back(Command{"GET", "k"});
    commands.push_back(Command{"GET", "missing"});
    commands.push_back(Command{"RPUSH", "list", "a", "b"});
    commands.push_back(Command{"LRANGE", "list", "0", "-1"});
    auto const before = client.round_trips();
    auto const replies = run_sync(client.pipeline(std::move(commands)));
    BOOST_TEST(client.round_trips() - before == 1u);
    BOOST_REQUIRE(replies.size() == 6u);
    BOOST_TEST(replies[0].str == "OK");
    BOOST_TEST(replies[1].is_error());
    BOOST_TEST(contains(replies[1].str, "not an integer"), replies[1].str);
    BOOST_TEST(replies[2].str == "v");
    BOOST_TEST(replies[3].is_nil());
    BOOST_TEST(replies[4].integer == 2);
    BOOST_TEST(replies[5].elements.size() == 2u);
    BOOST_TEST(run_sync(client.pipeline({})).empty());
    // The connection is still in step after the error.
    BOOST_TEST(run_command(client, Command{"ECHO", "after"}).str == "after");
}

BOOST_AUTO_TEST_CASE(an_error_reply_names_the_address_and_the_command) {
    RedisProcess server;
    Client client(url_of(server));
    run_sync(client.connect());
    (void)run_command(client, Command{"SET", "text", "abc"});
    auto const what = error_of(client, Command{"INCR", "text"});
    BOOST_TEST(what.starts_with("Redis " + server.address() + ": INCR failed: ERR"), what);
    auto const unknown = error_of(client, Command{"NOSUCHCOMMAND", "x"});
    BOOST_TEST(contains(unknown, "Redis " + server.address()), unknown);
    BOOST_TEST(contains(unknown, "NOSUCHCOMMAND"), unknown);
    BOOST_TEST(run_command(client, Command{"GET", "text"}).str == "abc");
}

BOOST_AUTO_TEST_CASE(a_script_is_known_by_the_lower_case_hex_of_its_sha1) {
    BOOST_TEST(Script("").sha1() == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    BOOST_TEST(Script("return 1").sha1() == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

BOOST_AUTO_TEST_CASE(evalsha_falls_back_to_eval_after_script_flush) {
    RedisProcess server;
    Client client(url_of(server));
    run_sync(client.connect());
    Script const script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}");
    BOOST_TEST(script.sha1().size() == 40u);
    auto const first = run_sync(client.eval(script, {"counter"}, {"arg"}));
    BOOST_REQUIRE(first.elements.size() == 3u);
    BOOST_TEST(first.elements[0].str == "counter");
    BOOST_TEST(first.elements[1].str == "arg");
    BOOST_TEST(first.elements[2].integer == 1);
    // EVAL cached it: it is known by its SHA-1 now.
    auto const exists = run_command(client, Command{"SCRIPT", "EXISTS", script.sha1()});
    BOOST_TEST(exists.elements.at(0).integer == 1);
    // A second call is one round trip (EVALSHA only).
    auto const before = client.round_trips();
    BOOST_TEST(run_sync(client.eval(script, {"counter"}, {"x"})).elements[2].integer == 2);
    BOOST_TEST(client.round_trips() - before == 1u);

    (void)run_command(client, Command{"SCRIPT", "FLUSH"});
    BOOST_TEST(run_sync(client.eval(script, {"counter"}, {"y"})).elements[2].integer == 3);

    Script const failing("return redis.call('INCR', KEYS[1])");
    (void)run_command(client, Command{"SET", "text", "abc"});
    std::string what = "(nothing thrown)";
    try {
        (void)run_sync(client.eval(failing, {"text"}, {}));
    } catch (canal::Error const& e) {
        what = e.what();
    }
    BOOST_TEST(what.starts_with("Redis " + server.address() + ": EVALSHA failed:"), what);
}

BOOST_AUTO_TEST_CASE(a_blocking_command_waits_beyond_the_command_timeout) {
    RedisProcess server;
    ClientOptions options;
    options.command_timeout = 100ms;
    Client client(url_of(server), options);
    run_sync(client.connect());
    auto const start = std::chrono::steady_clock::now();
    auto const reply = run_sync(client.command(Command{"BZPOPMIN", "empty", "0.3"}, 1000ms));
    BOOST_TEST(reply.is_nil());
    BOOST_TEST((std::chrono::steady_clock::now() - start >= 250ms));
    BOOST_TEST(client.connected());
}

BOOST_AUTO_TEST_CASE(auth_with_a_password) {
    RedisProcess server({"--requirepass", "s3cret"});
    auto good = Url::parse("redis://:s3cret@" + server.address());
    Client client(good);
    run_sync(client.connect());
    BOOST_TEST(run_command(client, Command{"PING"}).str == "PONG");

    Client wrong(Url::parse("redis://:nope@" + server.address()));
    std::string what = "(nothing thrown)";
    try {
        run_sync(wrong.connect());
    } catch (canal::Error const& e) {
        what = e.what();
    }
    BOOST_TEST(what.starts_with("Redis " + server.address() + ":"), what);
    BOOST_TEST(contains(what, "AUTH"), what);
    BOOST_TEST(!wrong.connected());
    BOOST_TEST(contains(error_of(wrong, Command{"PING"}), "not connected"));

    Client none(url_of(server)); // no password: refused at connect(), with Redis' reason
    what = "(nothing thrown)";
    try {
        run_sync(none.connect());
    } catch (canal::Error const& e) {
        what = e.what();
    }
    BOOST_TEST(what.starts_with("Redis " + server.address() + ":"), what);
    BOOST_TEST(contains(what, "NOAUTH"), what);
}

BOOST_AUTO_TEST_CASE(select_a_database) {
    RedisProcess server;
    Client db3(Url::parse(server.url() + "/3"));
    Client db0(url_of(server));
    run_sync(db3.connect());
    run_sync(db0.connect());
    (void)run_command(db3, Command{"SET", "where", "three"});
    BOOST_TEST(run_command(db3, Command{"GET", "where"}).str == "three");
    BOOST_TEST(run_command(db0, Command{"GET", "where"}).is_nil());
    auto const info = run_command(db3, Command{"CLIENT", "INFO"});
    BOOST_TEST(contains(info.str, " db=3 "), info.str);
}

BOOST_AUTO_TEST_CASE(an_unreachable_server_fails_within_the_connect_timeout) {
    auto const port = canal::test::free_loopback_port(); // nothing listens there
    ClientOptions options;
    options.connect_timeout = 1000ms;
    Client client(Url::parse("redis://127.0.0.1:" + std::to_string(port)), options);
    auto const start = std::chrono::steady_clock::now();
    std::string what = "(nothing thrown)";
    try {
        run_sync(client.connect());
    } catch (canal::Error const& e) {
        what = e.what();
    }
    BOOST_TEST((std::chrono::steady_clock::now() - start < 1500ms));
    BOOST_TEST(what.starts_with("Redis 127.0.0.1:" + std::to_string(port)), what);
    BOOST_TEST(contains(what, "cannot connect"), what);
    // Requests fail at once while it keeps trying in the background.
    auto const again = std::chrono::steady_clock::now();
    auto const cmd = error_of(client, Command{"PING"});
    BOOST_TEST((std::chrono::steady_clock::now() - again < 500ms));
    BOOST_TEST(cmd.starts_with("Redis 127.0.0.1:" + std::to_string(port) + ": PING failed"), cmd);
}

BOOST_AUTO_TEST_CASE(a_killed_server_fails_requests_fast_and_the_client_reconnects) {
    RedisProcess server;
    ClientOptions options;
    options.max_backoff = 200ms;
    Client client(url_of(server), options);
    run_sync(client.connect());
    (void)run_command(client, Command{"SET", "k", "v"});

    server.stop();
    auto const start = std::chrono::steady_clock::now();
    auto const first = error_of(client, Command{"GET", "k"});
    auto const second = error_of(client, Command{"GET", "k"});
    BOOST_TEST((std::chrono::steady_clock::now() - start < 1000ms));
    BOOST_TEST(first.starts_with("Redis " + server.address() + ": GET failed"), first);
    BOOST_TEST(second.starts_with("Redis " + server.address() + ": GET failed"), second);
    BOOST_TEST(!client.connected());

    server.start();
    // Reconnects by itself: no connect() call. Bounded wait for the back-off to pass.
    auto const deadline = std::chrono::steady_clock::now() + 5s;
    while (!client.connected() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    BOOST_TEST(client.connected());
    BOOST_TEST(run_command(client, Command{"GET", "k"}).is_nil()); // a fresh server
    BOOST_TEST(run_command(client, Command{"PING"}).str == "PONG");
}

BOOST_AUTO_TEST_CASE(a_server_that_stops_answering_fails_requests_after_the_command_timeout) {
    RedisProcess server;
    ClientOptions options;
    options.command_timeout = 300ms;
    options.max_backoff = 100ms;
    Client client(url_of(server), options);
    run_sync(client.connect());
    server.freeze();
    auto const start = std::chrono::steady_clock::now();
    auto const what = error_of(client, Command{"PING"});
    auto const took = std::chrono::steady_clock::now() - start;
    server.thaw();
    BOOST_TEST((took >= 250ms && took < 1500ms));
    BOOST_TEST(what.starts_with("Redis " + server.address() + ": PING failed: no reply"), what);
    // It comes back by itself once the server answers again.
    auto const deadline = std::chrono::steady_clock::now() + 5s;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
        last = error_of(client, Command{"PING"});
        if (last == "(nothing thrown)") {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    BOOST_TEST(last == "(nothing thrown)");
}

BOOST_AUTO_TEST_CASE(a_closed_client_refuses_requests) {
    RedisProcess server;
    Client client(url_of(server));
    run_sync(client.connect());
    client.close();
    client.close(); // idempotent
    auto const what = error_of(client, Command{"PING"});
    BOOST_TEST(contains(what, "closed"), what);
}

BOOST_AUTO_TEST_SUITE_END()
