// The blocking consumers on a real canal::Server over loopback: handlers blocked on the pool
// leave the I/O threads and the other consumers alone, the handshake and error answers, and
// the sync chat with two clients.
#include <canal/consumers/websocket_consumer.hpp>

#include "sync_test_helpers.hpp"

#include "chat_app.hpp"
#include "integration/test_server.hpp"

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace {

using canal::test::Gate;
using canal::test::Log;
using canal::test::LogPtr;
using canal::test::TestServer;
using canal::test::WsClient;
using Kind = canal::test::WsFrame::Kind;
using namespace std::chrono_literals;

/**
 * "block" waits for the gate (then answers "released"), "fail" throws, "stop" throws
 * StopConsumer, anything else comes back. connect() refuses path /ws/deny/.
 */
class SyncServerEcho : public canal::WebsocketConsumer {
public:
    SyncServerEcho(LogPtr log, std::shared_ptr<Gate> gate)
        : log_(std::move(log)), gate_(std::move(gate)) {}

protected:
    void connect() override {
        log_->add(scope().path + ":connect");
        if (scope().path == "/ws/deny/") {
            throw canal::DenyConnection("not you");
        }
        accept();
    }
    void receive(std::string text) override {
        log_->add(scope().path + ":" + text);
        if (text == "block") {
            send(gate_->wait() ? "released" : "timed out");
        } else if (text == "fail") {
            throw std::runtime_error("deliberate failure");
        } else if (text == "stop") {
            throw canal::StopConsumer();
        } else {
            send(std::move(text));
        }
    }
    void disconnect(int code) override {
        log_->add(scope().path + ":disconnect:" + std::to_string(code));
    }

private:
    LogPtr log_;
    std::shared_ptr<Gate> gate_;
};

class AsyncServerEcho : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> receive(std::string text) override { co_await send(std::move(text)); }
};

canal::Application server_app(LogPtr const& log, std::shared_ptr<Gate> const& gate) {
    canal::URLRouter ws{{
        canal::path("ws/async/", canal::as_app<AsyncServerEcho>()),
        canal::path("ws/chat/<str:room_name>/", canal::as_app<chat::SyncChatConsumer>()),
        canal::path("ws/<str:name>/", canal::as_app<SyncServerEcho>(log, gate)),
    }};
    std::map<std::string, canal::Application, std::less<>> apps;
    apps.emplace("websocket", std::move(ws));
    return canal::ProtocolTypeRouter{std::move(apps)};
}

struct ServerFixture {
    ServerFixture() = default;
    ServerFixture(ServerFixture const&) = delete;
    ServerFixture& operator=(ServerFixture const&) = delete;
    // Never leave a handler blocked behind a failed check: open the gate first.
    ~ServerFixture() { gate->open(); }

    LogPtr log = std::make_shared<Log>();
    std::shared_ptr<Gate> gate = std::make_shared<Gate>();
    TestServer server{server_app(log, gate)};

    std::unique_ptr<WsClient> open(std::string const& target) {
        auto r = server.ws(target);
        BOOST_REQUIRE_MESSAGE(r, target << ": " << r.error << " (HTTP " << r.http_status << ")");
        return std::move(r.ws);
    }
};

/** Sends `text` and expects it back as a text frame. */
void check_echo(WsClient& c, std::string const& text) {
    BOOST_TEST_REQUIRE(c.send_text(text), c.last_error());
    auto f = c.read();
    BOOST_TEST((f.kind == Kind::text && f.data == text),
               "sent '" << text << "', got " << f.describe());
}

std::string chat_json(std::string const& text) {
    boost::json::object obj;
    obj["message"] = text;
    return boost::json::serialize(obj);
}

std::string message_of(canal::test::WsFrame const& f) {
    if (f.kind != Kind::text) {
        return "<" + f.describe() + ">";
    }
    auto v = boost::json::parse(f.data);
    return std::string(v.at("message").as_string());
}

} // namespace

BOOST_AUTO_TEST_SUITE(sync_on_a_server)

BOOST_AUTO_TEST_CASE(blocked_handlers_do_not_stop_other_consumers_or_the_io_threads) {
    BOOST_TEST_REQUIRE(canal::handler_threads() >= 3U);
    ServerFixture f;
    auto a = f.open("/ws/a/");
    auto b = f.open("/ws/b/");
    BOOST_TEST_REQUIRE(a->send_text("block"));
    BOOST_TEST_REQUIRE(b->send_text("block"));
    // Well within the handlers' own 10 s wait, so that a failure here is this one.
    bool const both = canal::test::wait_until(
        [&] { return f.log->has("/ws/a/:block") && f.log->has("/ws/b/:block"); }, 3s);
    BOOST_TEST_REQUIRE(both, "the two blocking handlers did not both start: " << f.log->str());

    // Two handler threads are parked: new connections, sync and async, are served.
    auto c = f.open("/ws/c/");
    check_echo(*c, "sync while two block");
    auto d = f.open("/ws/async/");
    check_echo(*d, "async while two block");
    // A parked consumer's connection still reads: its next message waits for its handler.
    BOOST_TEST_REQUIRE(a->send_text("queued"));
    BOOST_TEST((a->read(std::chrono::milliseconds(50)).kind == Kind::timeout));
    BOOST_TEST(!f.log->has("/ws/a/:queued"), "a second handler overlapped the blocked one");

    f.gate->open();
    auto first = a->read();
    BOOST_TEST((first.kind == Kind::text && first.data == "released"), first.describe());
    auto second = a->read();
    BOOST_TEST((second.kind == Kind::text && second.data == "queued"), second.describe());
    auto fb = b->read();
    BOOST_TEST((fb.kind == Kind::text && fb.data == "released"), fb.describe());
    for (auto* ws : {a.get(), b.get(), c.get(), d.get()}) {
        BOOST_TEST(ws->close());
    }
    bool const disconnected =
        canal::test::wait_until([&] { return f.log->has("/ws/a/:disconnect:1000"); });
    BOOST_TEST(disconnected, f.log->str());
}

BOOST_AUTO_TEST_CASE(deny_connection_is_http_403) {
    ServerFixture f;
    auto r = f.server.ws("/ws/deny/");
    BOOST_TEST(!r);
    BOOST_TEST(r.http_status == 403, "got HTTP " << r.http_status << " (" << r.error << ")");
}

BOOST_AUTO_TEST_CASE(an_exception_in_a_handler_closes_1011) {
    ServerFixture f;
    auto c = f.open("/ws/fails/");
    check_echo(*c, "before");
    BOOST_TEST_REQUIRE(c->send_text("fail"));
    auto frame = c->read();
    BOOST_TEST((frame.kind == Kind::close), frame.describe());
    BOOST_TEST(frame.close_code == 1011);
    bool const disconnected =
        canal::test::wait_until([&] { return f.log->has("/ws/fails/:disconnect:1011"); });
    BOOST_TEST(disconnected, f.log->str());
    // The server lives on.
    auto again = f.open("/ws/again/");
    check_echo(*again, "after");
}

BOOST_AUTO_TEST_CASE(the_sync_chat_delivers_every_message_to_both_members_in_order) {
    ServerFixture f;
    auto a = f.open("/ws/chat/lobby/");
    auto b = f.open("/ws/chat/lobby/");
    constexpr int n = 20;
    for (int i = 0; i < n; ++i) {
        BOOST_TEST_REQUIRE(a->send_text(chat_json("m" + std::to_string(i))), a->last_error());
    }
    for (int i = 0; i < n; ++i) {
        BOOST_TEST_REQUIRE(message_of(a->read()) == "m" + std::to_string(i));
        BOOST_TEST_REQUIRE(message_of(b->read()) == "m" + std::to_string(i));
    }
    BOOST_TEST_REQUIRE(b->send_text(chat_json("from b")));
    BOOST_TEST(message_of(a->read()) == "from b");
    BOOST_TEST(message_of(b->read()) == "from b");

    auto refused = f.server.ws("/ws/chat/bad%20room/");
    BOOST_TEST(!refused);
    BOOST_TEST(refused.http_status == 403, "got HTTP " << refused.http_status);

    BOOST_TEST_REQUIRE(b->send_text("{not json"));
    auto closed = b->read();
    BOOST_TEST((closed.kind == Kind::close), closed.describe());
    BOOST_TEST(closed.close_code == 1007);
    BOOST_TEST(a->close());
}

BOOST_AUTO_TEST_SUITE_END()
