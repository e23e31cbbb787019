// Integration: the connection core over real sockets: RFC 6455 corners (a malformed key, a
// forbidden close code, frames sent with the upgrade request), HTTP streamed both ways
// (a response part by part, a client leaving mid-response, bodies over the limit, pipelined
// requests), and one answer for a send before accept, whichever consumer style.
#include "test_server.hpp"

#include <canal/consumers/async_http_consumer.hpp>
#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/consumers/websocket_consumer.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <variant>

namespace {

using namespace canal::test;
using canal::awaitable;

struct ConnProbe {
    std::atomic<int> disconnect_code{0};
    std::atomic<int> http_disconnects{0};
};

class Echo : public canal::AsyncWebsocketConsumer {
public:
    explicit Echo(std::shared_ptr<ConnProbe> probe) : probe_(std::move(probe)) {}

protected:
    awaitable<void> connect() override {
        co_await accept();
        co_await send("path " + scope().path);
    }
    awaitable<void> receive(std::string text) override { co_await send(std::move(text)); }
    awaitable<void> disconnect(int code) override {
        probe_->disconnect_code = code;
        co_return;
    }

private:
    std::shared_ptr<ConnProbe> probe_;
};

// Both styles send before accepting: a programming error, refused the same way.
class EagerAsync : public canal::AsyncWebsocketConsumer {
protected:
    awaitable<void> connect() override { co_await send("too early"); }
};
class EagerSync : public canal::WebsocketConsumer {
protected:
    void connect() override { send("too early"); }
};

/** Streams "first", then "second" when group "feed" says so, then ends the response. */
class Feed : public canal::AsyncHttpConsumer {
public:
    explicit Feed(std::shared_ptr<ConnProbe> probe) : probe_(std::move(probe)) {
        on("feed.next", &Feed::next);
    }

protected:
    awaitable<void> handle(std::string /*body*/) override {
        co_await channel_layer().group_add("feed", channel_name());
        canal::Headers headers;
        headers.emplace_back("content-type", "text/event-stream");
        co_await send_headers(200, std::move(headers));
        co_await send_body("data: first\n\n", true);
    }
    awaitable<void> next(canal::Message const& m) {
        bool const last = m.at("last").as_bool();
        co_await send_body(last ? "data: second\n\n" : "data: more\n\n", !last);
    }
    awaitable<void> disconnect() override {
        ++probe_->http_disconnects;
        co_await channel_layer().group_discard("feed", channel_name());
    }

private:
    std::shared_ptr<ConnProbe> probe_;
};

/** Answers with the size of the body it read. */
class BodySize : public canal::AsyncHttpConsumer {
protected:
    awaitable<void> handle(std::string body) override {
        co_await send_response(200, "read " + std::to_string(body.size()) + " bytes");
    }
};

canal::Application app(std::shared_ptr<ConnProbe> probe) {
    canal::URLRouter ws{{
        canal::path("ws/echo/<str:name>/", canal::as_app<Echo>(probe)),
        canal::path("ws/eager/async/", canal::as_app<EagerAsync>()),
        canal::path("ws/eager/sync/", canal::as_app<EagerSync>()),
    }};
    canal::URLRouter http{{
        canal::path("feed/", canal::as_app<Feed>(probe)),
        canal::path("size/", canal::as_app<BodySize>()),
    }};
    std::map<std::string, canal::Application, std::less<>> routes;
    routes.emplace("websocket", std::move(ws));
    routes.emplace("http", std::move(http));
    return canal::ProtocolTypeRouter{std::move(routes)};
}

canal::Message feed_next(bool last) {
    boost::json::object obj;
    obj["type"] = "feed.next";
    obj["last"] = last;
    return canal::Message(std::move(obj));
}

/** Reads from `raw` until `what` has arrived (or the timeout); returns all read. */
std::string read_until(RawTcp& raw, std::string const& what, std::chrono::milliseconds t = 5s) {
    std::string got;
    auto const deadline = std::chrono::steady_clock::now() + t;
    while (got.find(what) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        auto more = raw.read_some(500ms);
        if (more.empty() && raw.peer_closed()) {
            break;
        }
        got += more;
    }
    return got;
}

} // namespace

BOOST_AUTO_TEST_SUITE(connection_core)

BOOST_AUTO_TEST_CASE(a_key_that_is_not_16_bytes_in_base64_is_answered_400) {
    auto probe = std::make_shared<ConnProbe>();
    TestServer server{app(probe)};
    auto raw = server.raw();
    BOOST_TEST(raw->websocket_handshake("/ws/echo/a/", 5s, {}, "c2hvcnQ=") == 400);
    auto good = server.raw();
    BOOST_TEST(good->websocket_handshake("/ws/echo/a/") == 101);
}

BOOST_AUTO_TEST_CASE(a_close_code_rfc_6455_forbids_is_answered_1002) {
    for (int code : {5000, 65535}) {
        auto probe = std::make_shared<ConnProbe>();
        TestServer server{app(probe)};
        auto raw = server.raw();
        BOOST_REQUIRE_EQUAL(raw->websocket_handshake("/ws/echo/a/"), 101);
        BOOST_REQUIRE_EQUAL(raw->read_frame().payload, "path /ws/echo/a/");
        std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
        BOOST_REQUIRE(raw->send_frame(8, payload));
        auto f = raw->read_frame();
        BOOST_TEST(f.opcode == 8);
        BOOST_TEST(f.close_code() == 1002, "close code " << code << " answered " << f.close_code());
        raw->close(); // the closing handshake is over: the client ends the TCP connection
        BOOST_TEST(eventually([&] { return probe->disconnect_code.load() == 1002; }));
    }
}

BOOST_AUTO_TEST_CASE(a_valid_close_code_is_echoed_and_reported) {
    auto probe = std::make_shared<ConnProbe>();
    TestServer server{app(probe)};
    auto raw = server.raw();
    BOOST_REQUIRE_EQUAL(raw->websocket_handshake("/ws/echo/a/"), 101);
    BOOST_REQUIRE_EQUAL(raw->read_frame().payload, "path /ws/echo/a/");
    BOOST_REQUIRE(raw->send_frame(8, std::string{'\x0f', '\xa0'})); // 4000
    BOOST_TEST(raw->read_frame().close_code() == 4000);
    raw->close();
    BOOST_TEST(eventually([&] { return probe->disconnect_code.load() == 4000; }));
}

BOOST_AUTO_TEST_CASE(frames_sent_with_the_upgrade_request_are_kept) {
    auto probe = std::make_shared<ConnProbe>();
    TestServer server{app(probe)};
    // A whole frame and half of another in the same write as the request.
    auto const one = RawTcp::client_frame(1, "one");
    auto const two = RawTcp::client_frame(1, "two");
    auto raw = server.raw();
    BOOST_REQUIRE_EQUAL(raw->websocket_handshake("/ws/echo/a/", 5s, one + two.substr(0, 3)), 101);
    BOOST_REQUIRE(raw->send(two.substr(3)));
    BOOST_TEST(raw->read_frame().payload == "path /ws/echo/a/");
    BOOST_TEST(raw->read_frame().payload == "one");
    BOOST_TEST(raw->read_frame().payload == "two");
}

BOOST_AUTO_TEST_CASE(a_client_that_answers_pings_is_kept_and_a_silent_one_dropped) {
    auto probe = std::make_shared<ConnProbe>();
    auto settings = test_settings();
    settings.ping_interval = 300ms;
    settings.ping_timeout = 300ms;
    TestServer server{app(probe), settings};
    // One that answers its pings is still served after twice the timeout.
    auto answering = server.raw();
    BOOST_REQUIRE_EQUAL(answering->websocket_handshake("/ws/echo/b/"), 101);
    BOOST_REQUIRE_EQUAL(answering->read_frame().payload, "path /ws/echo/b/");
    int pings = 0;
    auto const until = std::chrono::steady_clock::now() + 1200ms;
    while (std::chrono::steady_clock::now() < until) {
        auto f = answering->read_frame(100ms);
        if (f.opcode == 9) {
            ++pings;
            BOOST_REQUIRE(answering->send_frame(10, f.payload));
        }
    }
    BOOST_TEST(pings >= 1);
    BOOST_REQUIRE(answering->send_frame(1, "still here"));
    RawFrame echo;
    for (int i = 0; i < 4 && echo.opcode != 1; ++i) {
        echo = answering->read_frame(1s);
    }
    BOOST_TEST(echo.payload == "still here");
    BOOST_TEST(probe->disconnect_code.load() == 0);

    // One that stays silent: pinged at half the timeout, dropped (no close frame) at the end.
    auto silent = server.raw();
    BOOST_REQUIRE_EQUAL(silent->websocket_handshake("/ws/echo/a/"), 101);
    BOOST_REQUIRE_EQUAL(silent->read_frame().payload, "path /ws/echo/a/");
    auto const start = std::chrono::steady_clock::now();
    auto ping = silent->read_frame(2s);
    BOOST_TEST(ping.opcode == 9, "got opcode " << ping.opcode);
    (void)silent->read_until_close(3s);
    BOOST_TEST(silent->peer_closed());
    BOOST_TEST((std::chrono::steady_clock::now() - start >= 200ms));
    BOOST_TEST(eventually([&] { return probe->disconnect_code.load() == 1006; }));
}

BOOST_AUTO_TEST_CASE(a_handshake_without_version_13_is_answered_400_or_426) {
    auto probe = std::make_shared<ConnProbe>();
    TestServer server{app(probe)};
    for (std::string const version : {"", "Sec-WebSocket-Version: 8\r\n"}) {
        auto raw = server.raw();
        std::string const request = "GET /ws/echo/a/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
                                    version + "\r\n";
        BOOST_REQUIRE(raw->send(request));
        auto const head = read_until(*raw, "\r\n\r\n");
        if (version.empty()) {
            BOOST_TEST(head.starts_with("HTTP/1.1 400"), head);
        } else {
            BOOST_TEST(head.starts_with("HTTP/1.1 426"), head);
            BOOST_TEST(head.find("Sec-WebSocket-Version: 13") != std::string::npos, head);
        }
    }
}

BOOST_AUTO_TEST_CASE(an_unmasked_frame_is_answered_1002) {
    auto probe = std::make_shared<ConnProbe>();
    TestServer server{app(probe)};
    auto raw = server.raw();
    BOOST_REQUIRE_EQUAL(raw->websocket_handshake("/ws/echo/a/"), 101);
    BOOST_REQUIRE_EQUAL(raw->read_frame().payload, "path /ws/echo/a/");
    std::string unmasked{'\x81', '\x02', 'h', 'i'};
    BOOST_REQUIRE(raw->send(unmasked));
    auto f = raw->read_frame();
    BOOST_TEST(f.opcode == 8);
    BOOST_TEST(f.close_code() == 1002);
    raw->close();
    BOOST_TEST(eventually([&] { return probe->disconnect_code.load() == 1002; }));
}

BOOST_AUTO_TEST_CASE(the_path_is_decoded_alike_by_the_server_and_the_communicator) {
    auto probe = std::make_shared<ConnProbe>();
    TestServer server{app(probe)};
    auto r = server.ws("/ws/echo/caf%C3%A9%20au%20lait/");
    BOOST_REQUIRE_MESSAGE(r, r.error);
    auto const served = r.ws->read().data;
    BOOST_TEST(served == "path /ws/echo/café au lait/");

    canal::Scope scope;
    scope.channel_layer = std::make_shared<canal::InMemoryChannelLayer>();
    canal::WebsocketCommunicator c{app(probe), "/ws/echo/caf%C3%A9%20au%20lait/", scope};
    BOOST_REQUIRE(c.connect().accepted);
    BOOST_TEST(c.receive_from() == served);
}

BOOST_AUTO_TEST_CASE(a_send_before_accept_is_refused_500_in_both_styles_and_the_communicator) {
    auto probe = std::make_shared<ConnProbe>();
    TestServer server{app(probe)};
    for (std::string target : {"/ws/eager/async/", "/ws/eager/sync/"}) {
        auto raw = server.raw();
        BOOST_TEST(raw->websocket_handshake(target) == 500, target);

        canal::WebsocketCommunicator c{app(probe), target};
        BOOST_CHECK_EXCEPTION(c.connect(), canal::Error, [](canal::Error const& e) {
            return std::string(e.what()) == "websocket send before accept: accept the connection "
                                            "first";
        });
    }
}

BOOST_AUTO_TEST_CASE(a_streamed_response_arrives_part_by_part_then_ends) {
    auto probe = std::make_shared<ConnProbe>();
    TestServer server{app(probe)};
    auto raw = server.raw();
    BOOST_REQUIRE(raw->send("GET /feed/ HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto got = read_until(*raw, "data: first");
    BOOST_TEST(got.find("HTTP/1.1 200") == 0U, got);
    BOOST_TEST(got.find("Transfer-Encoding: chunked") != std::string::npos, got);
    BOOST_TEST(got.find("text/event-stream") != std::string::npos, got);
    BOOST_TEST(got.find("data: first") != std::string::npos, got);
    // The rest only exists once the layer message arrives: nothing more has come.
    BOOST_TEST(raw->read_some(200ms).empty());

    run_sync(server.layer().group_send("feed", feed_next(false)));
    BOOST_TEST(read_until(*raw, "data: more").find("data: more") != std::string::npos);
    run_sync(server.layer().group_send("feed", feed_next(true)));
    auto rest = read_until(*raw, "0\r\n\r\n");
    BOOST_TEST(rest.find("data: second") != std::string::npos, rest);
    BOOST_TEST(rest.find("0\r\n\r\n") != std::string::npos, rest);
    BOOST_TEST(eventually([&] { return probe->http_disconnects.load() == 1; }));

    // The connection is kept alive for the next request.
    BOOST_REQUIRE(raw->send("POST /size/ HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
    BOOST_TEST(read_until(*raw, "read 5 bytes").find("read 5 bytes") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_client_leaving_mid_response_is_reported_as_http_disconnect) {
    auto probe = std::make_shared<ConnProbe>();
    TestServer server{app(probe)};
    auto raw = server.raw();
    BOOST_REQUIRE(raw->send("GET /feed/ HTTP/1.1\r\nHost: t\r\n\r\n"));
    BOOST_REQUIRE(read_until(*raw, "data: first").find("data: first") != std::string::npos);
    BOOST_TEST(probe->http_disconnects.load() == 0);
    raw->close();
    BOOST_TEST(eventually([&] { return probe->http_disconnects.load() == 1; }),
               "the consumer's disconnect() did not run after the client left");
    BOOST_TEST(eventually([&] { return server.server().connection_count() == 0; }));
}

BOOST_AUTO_TEST_CASE(bodies_over_the_limit_are_answered_413_declared_or_chunked) {
    auto probe = std::make_shared<ConnProbe>();
    auto settings = test_settings();
    settings.max_body_size = 16;
    TestServer server{app(probe), settings};
    {
        auto raw = server.raw();
        BOOST_REQUIRE(raw->send("POST /size/ HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"));
        auto got = raw->read_until_close();
        BOOST_TEST(got.find("HTTP/1.1 413") == 0U, got);
    }
    {
        auto raw = server.raw();
        std::string const chunk(10, 'x');
        BOOST_REQUIRE(raw->send("POST /size/ HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                                "\r\na\r\n" + chunk + "\r\na\r\n" + chunk + "\r\n0\r\n\r\n"));
        auto got = raw->read_until_close();
        BOOST_TEST(got.find("HTTP/1.1 413") == 0U, got);
    }
    {
        // Within the limit, chunked: read whole.
        auto raw = server.raw();
        BOOST_REQUIRE(raw->send("POST /size/ HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                                "\r\n5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"));
        BOOST_TEST(read_until(*raw, "read 8 bytes").find("read 8 bytes") != std::string::npos);
    }
}

// The greeting is the application object's (a coroutine lambda's capture), not its frame's:
// it must outlive the router that chose it, which is made for one connection.
BOOST_AUTO_TEST_CASE(what_a_router_made_per_connection_chose_runs_after_the_router_is_gone) {
    canal::Application per_connection = [](canal::Scope scope, canal::Receive receive,
                                           canal::Send send) {
        auto greeter = [greeting = std::string(100, 'g')](canal::Scope, canal::Receive rcv,
                                                          canal::Send snd) -> awaitable<void> {
            co_await rcv(); // websocket.connect
            canal::Event accept = canal::WebsocketAccept{};
            co_await snd(std::move(accept));
            for (;;) {
                canal::Event ev = co_await rcv();
                if (!std::holds_alternative<canal::WebsocketReceive>(ev)) {
                    co_return;
                }
                auto text = std::make_shared<std::string const>(greeting);
                canal::Event reply = canal::WebsocketSend{std::move(text), false};
                co_await snd(std::move(reply));
            }
        };
        canal::URLRouter router({canal::path("ws/greet/", canal::Application(greeter))});
        return router(std::move(scope), std::move(receive), std::move(send));
    };
    TestServer server{per_connection};
    auto c = server.ws("/ws/greet/");
    BOOST_REQUIRE(c);
    for (int i = 0; i < 3; ++i) {
        BOOST_REQUIRE(c.ws->send_text("hi"));
        BOOST_TEST(c.ws->read().data == std::string(100, 'g'));
    }
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
    auto probe = std::make_shared<ConnProbe>();
    TestServer server{app(probe)};
    auto raw = server.raw();
    BOOST_REQUIRE(raw->send("POST /size/ HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab"
                            "POST /size/ HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"));
    auto got = read_until(*raw, "read 3 bytes");
    auto first = got.find("read 2 bytes");
    auto second = got.find("read 3 bytes");
    BOOST_TEST(first != std::string::npos, got);
    BOOST_TEST(second != std::string::npos, got);
    BOOST_TEST(first < second);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(connection_limits)

BOOST_AUTO_TEST_CASE(beyond_max_connections_a_handshake_is_answered_503) {
    auto probe = std::make_shared<ConnProbe>();
    auto settings = test_settings();
    settings.max_connections = 2;
    TestServer server{app(probe), settings};
    auto first = server.ws("/ws/echo/a/");
    auto second = server.ws("/ws/echo/b/");
    BOOST_REQUIRE_MESSAGE(first, first.error);
    BOOST_REQUIRE_MESSAGE(second, second.error);
    auto third = server.raw();
    BOOST_TEST(third->websocket_handshake("/ws/echo/c/") == 503);
    // A place freed is a place taken.
    first.ws->close_abruptly();
    BOOST_REQUIRE(eventually([&] { return server.server().connection_count() == 1; }));
    auto again = server.ws("/ws/echo/d/");
    BOOST_TEST(static_cast<bool>(again), again.error);
}

BOOST_AUTO_TEST_CASE(beyond_max_connections_per_client_a_handshake_is_answered_503) {
    auto probe = std::make_shared<ConnProbe>();
    auto settings = test_settings();
    settings.max_connections_per_client = 1;
    TestServer server{app(probe), settings};
    auto first = server.ws("/ws/echo/a/");
    BOOST_REQUIRE_MESSAGE(first, first.error);
    auto second = server.raw();
    BOOST_TEST(second->websocket_handshake("/ws/echo/b/") == 503);
    first.ws->close_abruptly();
    BOOST_REQUIRE(eventually([&] { return server.server().connection_count() == 0; }));
    auto again = server.ws("/ws/echo/c/");
    BOOST_TEST(static_cast<bool>(again), again.error);
}

BOOST_AUTO_TEST_CASE(settings_out_of_range_set_in_code_are_refused_by_start) {
    auto settings = test_settings();
    settings.max_message_size = 0;
    canal::Server server{app(std::make_shared<ConnProbe>()), settings};
    BOOST_CHECK_THROW(server.start(), canal::InvalidSetting);
}

BOOST_AUTO_TEST_SUITE_END()
