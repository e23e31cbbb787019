// Integration: the consumer API's corners over a real server, in both styles: headers given
// to accept(), send(..., close), groups named in connect() from the URL, MessageTooLarge,
// and RequestAborted for an HTTP handler still streaming when its client leaves.
#include "test_server.hpp"

#include <canal/consumers/async_http_consumer.hpp>
#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/consumers/websocket_consumer.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

using namespace canal::test;
using canal::awaitable;

struct CornerProbe {
    std::atomic<int> ticks{0};
    std::atomic<int> aborted{0};
    std::atomic<int> disconnects{0};
};

canal::Headers extra_headers() {
    canal::Headers h;
    h.emplace_back("X-Canal-Test", "yes");
    h.emplace_back("Set-Cookie", "flavour=plain; Path=/");
    return h;
}

/** Accepts with extra headers; joins "room-<name>" named in connect(); the rest by command. */
class AsyncCorners : public canal::AsyncWebsocketConsumer {
public:
    AsyncCorners() { on("room.note", &AsyncCorners::note); }

protected:
    awaitable<void> connect() override {
        groups.push_back("room-" + scope().url_route.kwargs.at("name"));
        auto headers = extra_headers();
        if (scope().query_string == "bad") {
            headers.emplace_back("X-Bad", "a\r\nInjected: yes");
        }
        std::string none;
        co_await accept(std::move(none), std::move(headers));
    }
    awaitable<void> receive(std::string text) override {
        if (text == "bye") {
            std::string last = "last words";
            co_await send(std::move(last), 4001);
        } else if (text == "bye-default") {
            std::string last = "last words";
            co_await send(std::move(last), true);
        } else if (text == "big") {
            bool too_large = false;
            try {
                co_await send(std::string(4096, 'x'));
            } catch (canal::MessageTooLarge const&) {
                too_large = true;
            }
            std::string answer = too_large ? "too large" : "sent";
            co_await send(std::move(answer));
        }
    }
    awaitable<void> note(canal::Message const& m) {
        std::string text = "note " + std::string(m.at("text").as_string());
        co_await send(std::move(text));
    }
};

class SyncCorners : public canal::WebsocketConsumer {
public:
    SyncCorners() { on("room.note", &SyncCorners::note); }

protected:
    void connect() override {
        auto const& name = scope().url_route.kwargs.at("name");
        groups.push_back("room-" + name);
        accept({}, extra_headers());
        if (name == "slow") {
            // The accept is posted; the group is joined only when connect() returns.
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
        } else if (name == "boom") {
            throw std::runtime_error("failed after accepting");
        }
    }
    void receive(std::string text) override {
        if (text == "bye") {
            send("last words", 4001);
        } else if (text == "big") {
            bool too_large = false;
            try {
                send(std::string(4096, 'x'));
            } catch (canal::MessageTooLarge const&) {
                too_large = true;
            }
            send(too_large ? "too large" : "sent");
        }
    }
    void note(canal::Message const& m) { send("note " + std::string(m.at("text").as_string())); }
};

/** Streams a tick every 10 ms until the client leaves (RequestAborted ends the loop). */
class Ticker : public canal::AsyncHttpConsumer {
public:
    explicit Ticker(std::shared_ptr<CornerProbe> probe) : probe_(std::move(probe)) {}

protected:
    awaitable<void> handle(std::string /*body*/) override {
        co_await send_headers(200);
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
        for (int i = 0; i < 1000; ++i) {
            bool aborted = false;
            try {
                std::string tick = "tick\n";
                co_await send_body(std::move(tick), true);
            } catch (canal::RequestAborted const&) {
                aborted = true;
            }
            if (aborted) {
                ++probe_->aborted;
                throw canal::RequestAborted("client left");
            }
            ++probe_->ticks;
            timer.expires_after(10ms);
            co_await timer.async_wait(canal::use_awaitable);
        }
    }
    awaitable<void> disconnect() override {
        ++probe_->disconnects;
        co_return;
    }

private:
    std::shared_ptr<CornerProbe> probe_;
};

canal::Application app(std::shared_ptr<CornerProbe> probe) {
    canal::URLRouter ws{{
        canal::path("ws/async/<str:name>/", canal::as_app<AsyncCorners>()),
        canal::path("ws/sync/<str:name>/", canal::as_app<SyncCorners>()),
    }};
    canal::URLRouter http{{canal::path("ticks/", canal::as_app<Ticker>(probe))}};
    std::map<std::string, canal::Application, std::less<>> routes;
    routes.emplace("websocket", std::move(ws));
    routes.emplace("http", std::move(http));
    return canal::ProtocolTypeRouter{std::move(routes)};
}

canal::Settings small_outbound() {
    auto s = test_settings();
    s.outbound_queue_bytes = 1024;
    return s;
}

canal::Message note(std::string const& text) {
    boost::json::object obj;
    obj["type"] = "room.note";
    obj["text"] = text;
    return canal::Message(std::move(obj));
}

std::string read_head(RawTcp& raw) {
    std::string got;
    auto const deadline = std::chrono::steady_clock::now() + 5s;
    while (got.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        auto more = raw.read_some(500ms);
        if (more.empty() && raw.peer_closed()) {
            break;
        }
        got += more;
    }
    return got;
}

std::string upgrade_request(std::string const& target) {
    return "GET " + target +
           " HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

} // namespace

BOOST_AUTO_TEST_SUITE(consumer_api_corners)

BOOST_AUTO_TEST_CASE(headers_given_to_accept_are_in_the_101_in_both_styles) {
    auto probe = std::make_shared<CornerProbe>();
    TestServer server{app(probe), small_outbound()};
    for (std::string target : {"/ws/async/a/", "/ws/sync/a/"}) {
        auto raw = server.raw();
        BOOST_REQUIRE(raw->send(upgrade_request(target)));
        auto head = read_head(*raw);
        BOOST_TEST(head.find("HTTP/1.1 101") == 0U, head);
        BOOST_TEST(head.find("\r\nX-Canal-Test: yes\r\n") != std::string::npos, head);
        BOOST_TEST(head.find("\r\nSet-Cookie: flavour=plain; Path=/\r\n") != std::string::npos,
                   head);
    }
    // The communicator reports them too.
    canal::Scope scope;
    scope.channel_layer = std::make_shared<canal::InMemoryChannelLayer>();
    canal::WebsocketCommunicator c{app(probe), "/ws/async/a/", std::move(scope)};
    auto result = c.connect();
    BOOST_TEST(result.accepted);
    BOOST_REQUIRE(result.headers.size() == 2U);
    BOOST_TEST(result.headers[0].first == "X-Canal-Test");
}

BOOST_AUTO_TEST_CASE(a_header_with_a_line_break_is_refused_and_never_written) {
    auto probe = std::make_shared<CornerProbe>();
    TestServer server{app(probe), small_outbound()};
    auto raw = server.raw();
    BOOST_REQUIRE(raw->send(upgrade_request("/ws/async/a/?bad")));
    auto head = read_head(*raw);
    BOOST_TEST(head.find("HTTP/1.1 500") == 0U, head);
    BOOST_TEST(head.find("Injected") == std::string::npos, head);
}

BOOST_AUTO_TEST_CASE(send_with_close_sends_then_closes_with_the_code_in_both_styles) {
    auto probe = std::make_shared<CornerProbe>();
    TestServer server{app(probe), small_outbound()};
    for (std::string target : {"/ws/async/b/", "/ws/sync/b/"}) {
        auto c = server.ws(target);
        BOOST_REQUIRE(c);
        BOOST_REQUIRE(c.ws->send_text("bye"));
        auto first = c.ws->read();
        BOOST_TEST(first.data == "last words", first.describe());
        auto end = c.ws->read();
        BOOST_TEST((end.kind == WsFrame::Kind::close), end.describe());
        BOOST_TEST(end.close_code == 4001);
    }
    auto c = server.ws("/ws/async/b/");
    BOOST_REQUIRE(c);
    BOOST_REQUIRE(c.ws->send_text("bye-default"));
    BOOST_TEST(c.ws->read().data == "last words");
    BOOST_TEST(c.ws->read().close_code == 1000);
}

BOOST_AUTO_TEST_CASE(groups_named_in_connect_from_the_url_are_joined_in_both_styles) {
    auto probe = std::make_shared<CornerProbe>();
    TestServer server{app(probe), small_outbound()};
    auto in_async = server.ws("/ws/async/kitchen/");
    auto in_sync = server.ws("/ws/sync/kitchen/");
    auto elsewhere = server.ws("/ws/async/garden/");
    BOOST_REQUIRE(in_async);
    BOOST_REQUIRE(in_sync);
    BOOST_REQUIRE(elsewhere);
    run_sync(server.layer().group_send("room-kitchen", note("dinner")));
    BOOST_TEST(in_async.ws->read().data == "note dinner");
    BOOST_TEST(in_sync.ws->read().data == "note dinner");
    BOOST_TEST((elsewhere.ws->read(300ms).kind == WsFrame::Kind::timeout));
}

BOOST_AUTO_TEST_CASE(a_sync_connect_that_accepts_before_returning_is_in_its_groups_at_the_101) {
    auto probe = std::make_shared<CornerProbe>();
    TestServer server{app(probe), small_outbound()};
    auto slow = server.ws("/ws/sync/slow/");
    BOOST_REQUIRE(slow);
    // Sent as soon as the client holds its 101, while connect() may still be running.
    run_sync(server.layer().group_send("room-slow", note("early")));
    BOOST_TEST(slow.ws->read().data == "note early");
}

BOOST_AUTO_TEST_CASE(a_sync_connect_that_fails_after_accepting_is_accepted_then_closed_1011) {
    auto probe = std::make_shared<CornerProbe>();
    TestServer server{app(probe), small_outbound()};
    // The accept held during connect() still leaves when connect() throws (not an HTTP 500).
    auto boom = server.ws("/ws/sync/boom/");
    BOOST_REQUIRE(boom);
    auto end = boom.ws->read();
    BOOST_TEST((end.kind == WsFrame::Kind::close), end.describe());
    BOOST_TEST(end.close_code == 1011);
}

BOOST_AUTO_TEST_CASE(a_message_over_the_outbound_limit_throws_message_too_large) {
    auto probe = std::make_shared<CornerProbe>();
    TestServer server{app(probe), small_outbound()};
    for (std::string target : {"/ws/async/c/", "/ws/sync/c/"}) {
        auto c = server.ws(target);
        BOOST_REQUIRE(c);
        BOOST_REQUIRE(c.ws->send_text("big"));
        auto answer = c.ws->read();
        BOOST_TEST(answer.data == "too large", answer.describe());
        // The connection stays open.
        BOOST_REQUIRE(c.ws->send_text("big"));
        BOOST_TEST(c.ws->read().data == "too large");
    }
}

BOOST_AUTO_TEST_CASE(a_streaming_handler_gets_request_aborted_when_its_client_leaves) {
    auto probe = std::make_shared<CornerProbe>();
    TestServer server{app(probe), small_outbound()};
    auto raw = server.raw();
    BOOST_REQUIRE(raw->send("GET /ticks/ HTTP/1.1\r\nHost: t\r\n\r\n"));
    BOOST_TEST(read_head(*raw).find("HTTP/1.1 200") == 0U);
    BOOST_REQUIRE(eventually([&] { return probe->ticks.load() >= 3; }));
    raw->close();
    BOOST_TEST(eventually([&] { return probe->aborted.load() == 1; }),
               "send_body() did not throw RequestAborted after the client left");
    BOOST_TEST(eventually([&] { return probe->disconnects.load() == 1; }));
    int const ticks = probe->ticks.load();
    std::this_thread::sleep_for(100ms);
    BOOST_TEST(probe->ticks.load() == ticks, "the handler went on after RequestAborted");
    BOOST_TEST(eventually([&] { return server.server().connection_count() == 0; }));
}

BOOST_AUTO_TEST_SUITE_END()
