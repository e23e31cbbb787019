// Integration: sync consumers over real sockets. Blocked sync handlers hold only their own
// pool threads: other sync consumers and async consumers are still served promptly; each
// connection's handlers stay in order. The bridges: sync_to_async from an async consumer,
// async_to_sync refused on an I/O thread, and async_to_sync from a thread of one's own.
#include "chat_app.hpp"

#include "test_server.hpp"

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/consumers/websocket_consumer.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/sync/async_to_sync.hpp>
#include <canal/sync/handler_pool.hpp>
#include <canal/sync/sync_to_async.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace {

using namespace canal::test;
using Kind = WsFrame::Kind;
using Clock = std::chrono::steady_clock;

/** A gate the test opens; handlers wait on it, bounded so that a failing test cannot hang. */
class Gate {
public:
    /** Blocks until open() or until `limit` passes; false when the limit passed. */
    bool wait(std::chrono::milliseconds limit) {
        std::unique_lock lock{mutex_};
        return cv_.wait_for(lock, limit, [this] { return open_; });
    }
    void open() {
        {
            std::lock_guard lock{mutex_};
            open_ = true;
        }
        cv_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

/** Opens the gate when the test ends, however it ends, so no pool thread stays blocked. */
struct OpenOnExit {
    std::shared_ptr<Gate> gate;
    ~OpenOnExit() { gate->open(); }
};

/** Sets the handler pool's size for one test and restores the previous size after it. */
class HandlerThreads {
public:
    explicit HandlerThreads(unsigned threads) : previous_(canal::handler_threads()) {
        canal::set_handler_threads(threads);
    }
    ~HandlerThreads() { canal::set_handler_threads(previous_); }
    HandlerThreads(HandlerThreads const&) = delete;
    HandlerThreads& operator=(HandlerThreads const&) = delete;

private:
    unsigned previous_;
};

/**
 * "block": reports "blocked", waits for the gate (plain blocking code, as a database call
 * would), reports "released" and answers "released". Anything else is echoed as "echo:TEXT".
 */
class BlockingConsumer : public canal::WebsocketConsumer {
public:
    BlockingConsumer(std::shared_ptr<Gate> gate, std::shared_ptr<Probe> probe)
        : gate_(std::move(gate)), probe_(std::move(probe)) {}

protected:
    void receive(std::string text) override {
        if (text != "block") {
            send("echo:" + text);
            return;
        }
        probe_->record("blocked");
        bool const opened = gate_->wait(std::chrono::seconds(20));
        probe_->record(opened ? "released" : "gate timed out");
        send("released");
    }

private:
    std::shared_ptr<Gate> gate_;
    std::shared_ptr<Probe> probe_;
};

class SyncEchoConsumer : public canal::WebsocketConsumer {
protected:
    void receive(std::string text) override { send(std::move(text)); }
};

class AsyncEchoConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> receive(std::string text) override { co_await send(std::move(text)); }
};

/** A stand-in for a blocking library call. */
std::string shout(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return text;
}

/** An async consumer that reaches blocking code through sync_to_async ("shout" → "SHOUT"). */
class ShoutConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> receive(std::string text) override {
        // g++ 12: the callable gets its own statement, never a temporary in the co_await operand.
        auto call = [text] { return shout(text); };
        auto loud = co_await canal::sync_to_async(call);
        co_await send(std::move(loud));
    }
};

/** An async consumer that calls async_to_sync on its I/O thread, and answers what it threw. */
class MisuseConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> receive(std::string /*text*/) override { co_await send(misuse()); }

private:
    /** What async_to_sync() on this I/O thread throws (a co_await cannot sit in a catch). */
    std::string misuse() {
        try {
            canal::async_to_sync([this] { return send(std::string("must not be sent")); });
        } catch (canal::Error const& e) {
            return std::string("error: ") + e.what();
        }
        return "no error";
    }
};

canal::Application sync_app(std::shared_ptr<Gate> const& gate,
                            std::shared_ptr<Probe> const& probe) {
    canal::URLRouter ws{{
        canal::path("ws/blocking/", canal::as_app<BlockingConsumer>(gate, probe)),
        canal::path("ws/sync-echo/", canal::as_app<SyncEchoConsumer>()),
        canal::path("ws/async-echo/", canal::as_app<AsyncEchoConsumer>()),
        canal::path("ws/shout/", canal::as_app<ShoutConsumer>()),
        canal::path("ws/misuse/", canal::as_app<MisuseConsumer>()),
    }};
    std::map<std::string, canal::Application, std::less<>> apps;
    apps.emplace("websocket", std::move(ws));
    return canal::ProtocolTypeRouter{std::move(apps)};
}

std::unique_ptr<WsClient> connect(TestServer const& server, std::string const& target) {
    auto r = server.ws(target);
    BOOST_REQUIRE_MESSAGE(r, target << ": " << r.error << " (HTTP " << r.http_status << ")");
    return std::move(r.ws);
}

/** Connects to `target`, sends `text` and expects it back within `limit`; returns the time. */
std::chrono::milliseconds echo_time(TestServer const& server, std::string const& target,
                                    std::string const& text, std::chrono::milliseconds limit) {
    auto const start = Clock::now();
    auto c = connect(server, target);
    BOOST_REQUIRE_MESSAGE(c->send_text(text), target << ": " << c->last_error());
    auto const f = c->read(limit);
    auto const took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    BOOST_TEST((f.kind == Kind::text && f.data == text),
               target << " within " << limit.count() << " ms: " << f.describe());
    return took;
}

} // namespace

BOOST_AUTO_TEST_SUITE(sync_consumers)

BOOST_AUTO_TEST_CASE(blocked_sync_handlers_do_not_stall_other_consumers) {
    // A pool of N threads runs at most N sync handlers at once. A handler blocked in its own
    // code (here the gate; in real life a database call) holds its thread: the pool adds
    // stand-in threads only for threads waiting in async_to_sync(). With 2 threads the two
    // blocked handlers would hold both, and even the third sync consumer's connect() would
    // wait for them (its handshake then fails with HTTP 503 after the 5 s handshake timeout).
    // 4 threads leave 2 free for it. (A pool sized earlier in this process may
    // briefly keep more idle threads; that only makes this test easier, never harder.)
    HandlerThreads threads{4};
    auto gate = std::make_shared<Gate>();
    auto probe = std::make_shared<Probe>();
    TestServer server{sync_app(gate, probe)};
    OpenOnExit open_on_exit{gate};

    auto first = connect(server, "/ws/blocking/");
    auto second = connect(server, "/ws/blocking/");
    BOOST_REQUIRE(first->send_text("block"));
    BOOST_REQUIRE(second->send_text("block"));
    // Both are blocked at once: different connections' sync handlers run in parallel.
    BOOST_REQUIRE_MESSAGE(eventually([&] { return probe->count("blocked") == 2; }),
                          "both handlers should be blocked together; events: " << probe->history());
    // A second message to a blocked consumer waits for its first handler (one at a time).
    BOOST_REQUIRE(first->send_text("queued"));

    auto const limit = std::chrono::milliseconds(2000);
    auto const sync_took = echo_time(server, "/ws/sync-echo/", "sync hello", limit);
    auto const async_took = echo_time(server, "/ws/async-echo/", "async hello", limit);
    BOOST_TEST_MESSAGE("with two handlers blocked: sync echo (connect + round trip) "
                       << sync_took.count() << " ms, async echo " << async_took.count() << " ms");
    // The echoes came while the two were still blocked: nothing came out of them yet.
    BOOST_TEST(probe->count("released") == 0U, "events: " << probe->history());
    auto const early = first->read(std::chrono::milliseconds(50));
    BOOST_TEST(early.kind == Kind::timeout, "blocked consumer answered " << early.describe());

    gate->open();
    auto const f1 = first->read();
    auto const f2 = first->read();
    auto const g1 = second->read();
    BOOST_TEST((f1.kind == Kind::text && f1.data == "released"), "first: " << f1.describe());
    BOOST_TEST((f2.kind == Kind::text && f2.data == "echo:queued"), "first: " << f2.describe());
    BOOST_TEST((g1.kind == Kind::text && g1.data == "released"), "second: " << g1.describe());
    BOOST_TEST(probe->count("released") == 2U, "events: " << probe->history());
    BOOST_TEST(probe->count("gate timed out") == 0U, "events: " << probe->history());

    // And the pool is free again.
    echo_time(server, "/ws/sync-echo/", "after", limit);
}

BOOST_AUTO_TEST_CASE(async_consumer_reaches_blocking_code_through_sync_to_async) {
    auto gate = std::make_shared<Gate>();
    auto probe = std::make_shared<Probe>();
    TestServer server{sync_app(gate, probe)};
    auto c = connect(server, "/ws/shout/");
    for (int i = 0; i < 50; ++i) {
        auto const text = "shout " + std::to_string(i);
        BOOST_REQUIRE_MESSAGE(c->send_text(text), c->last_error());
        auto const f = c->read();
        BOOST_REQUIRE_MESSAGE((f.kind == Kind::text && f.data == shout(text)),
                              "message " << i << ": " << f.describe());
    }
}

BOOST_AUTO_TEST_CASE(async_to_sync_on_an_io_thread_is_an_error_not_a_deadlock) {
    auto gate = std::make_shared<Gate>();
    auto probe = std::make_shared<Probe>();
    TestServer server{sync_app(gate, probe)};
    auto c = connect(server, "/ws/misuse/");
    // Twice: the connection lives on. Nothing else arrives in between: the awaitable that
    // would have sent "must not be sent" was never started.
    for (int i = 0; i < 2; ++i) {
        BOOST_REQUIRE(c->send_text("misuse"));
        auto const f = c->read();
        BOOST_TEST(f.kind == Kind::text, "call " << i << ": " << f.describe());
        BOOST_TEST(f.data.starts_with("error: async_to_sync() called on an I/O thread"),
                   "call " << i << ": " << f.data);
    }
    auto const extra = c->read(std::chrono::milliseconds(100));
    BOOST_TEST(extra.kind == Kind::timeout, "unexpected " << extra.describe());
}

BOOST_AUTO_TEST_CASE(async_to_sync_from_a_thread_of_your_own_takes_an_executor) {
    // Channels' "send to a group from outside a consumer", e.g. from a management command.
    std::vector<std::string> any_origin{"*"}; // origins are checked in chat_test.cpp
    TestServer server{
        chat::make_application(CANAL_CHAT_STATIC_DIR, chat::ConsumerStyle::sync, any_origin)};
    auto member = connect(server, "/ws/chat/news/");
    auto& layer = server.layer();

    // This thread has no consumer executor to run the layer call on: a clear error.
    canal::Message lost{{"type", "chat.message"}, {"message", "lost"}};
    BOOST_CHECK_EXCEPTION(canal::async_to_sync([&] { return layer.group_send("chat_news", lost); }),
                          canal::Error, [](canal::Error const& e) {
                              return std::string(e.what()).find("no I/O executor") !=
                                     std::string::npos;
                          });

    // A thread of the application's own runs an io_context and names its executor.
    boost::asio::io_context ioc;
    auto work = boost::asio::make_work_guard(ioc);
    std::thread io{[&ioc] { ioc.run(); }};
    canal::Message event{{"type", "chat.message"}, {"message", "server restarting"}};
    canal::async_to_sync(ioc.get_executor(), [&] { return layer.group_send("chat_news", event); });
    work.reset();
    io.join();

    auto const f = member->read();
    BOOST_TEST((f.kind == Kind::text && f.data == R"({"message":"server restarting"})"),
               f.describe());
}

BOOST_AUTO_TEST_SUITE_END()
