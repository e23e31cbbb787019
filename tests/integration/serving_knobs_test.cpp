// Integration: daphne's knobs on a real server: --websocket-timeout closes a websocket that
// has been open too long with 1001, --http-timeout answers 503 for a response that never
// starts (and cuts one that started), --server-name sets (or removes) the Server header.
#include "test_server.hpp"

#include <canal/consumers/async_http_consumer.hpp>
#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/core/errors.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <string>

namespace {

using namespace canal::test;
using canal::awaitable;

struct KnobProbe {
    std::atomic<int> disconnect_code{0};
    std::atomic<int> late_sends_aborted{0};
};

class Hello : public canal::AsyncWebsocketConsumer {
public:
    explicit Hello(std::shared_ptr<KnobProbe> probe) : probe_(std::move(probe)) {}

protected:
    awaitable<void> connect() override {
        co_await accept();
        std::string hello = "hello";
        co_await send(std::move(hello));
    }
    awaitable<void> disconnect(int code) override {
        probe_->disconnect_code = code;
        co_return;
    }

private:
    std::shared_ptr<KnobProbe> probe_;
};

// Answers after 1.5 s; with `stream`, it sends its headers and a first part at once.
class Late : public canal::AsyncHttpConsumer {
public:
    Late(std::shared_ptr<KnobProbe> probe, bool stream) : probe_(std::move(probe)), stream_(stream) {}

protected:
    awaitable<void> handle(std::string /*body*/) override {
        if (stream_) {
            canal::Headers headers;
            headers.emplace_back("content-type", "text/plain");
            co_await send_headers(200, std::move(headers));
            std::string first = "first part\n";
            co_await send_body(std::move(first), true);
        }
        canal::net::steady_timer wait(co_await canal::net::this_coro::executor, 1500ms);
        co_await wait.async_wait(canal::use_awaitable);
        bool aborted = false;
        try {
            std::string last = "too late\n";
            if (stream_) {
                co_await send_body(std::move(last), false);
            } else {
                co_await send_response(200, std::move(last));
            }
        } catch (canal::RequestAborted const&) {
            aborted = true;
        }
        if (aborted) {
            ++probe_->late_sends_aborted;
        }
    }

private:
    std::shared_ptr<KnobProbe> probe_;
    bool stream_;
};

class Quick : public canal::AsyncHttpConsumer {
protected:
    awaitable<void> handle(std::string /*body*/) override {
        std::string body = "quick\n";
        co_await send_response(200, std::move(body));
    }
};

canal::Application app(std::shared_ptr<KnobProbe> const& probe) {
    std::map<std::string, canal::Application, std::less<>> routes;
    routes.emplace("websocket",
                   canal::URLRouter{{canal::path("ws/hello/", canal::as_app<Hello>(probe))}});
    routes.emplace("http",
                   canal::URLRouter{{canal::path("late/", canal::as_app<Late>(probe, false)),
                                     canal::path("stream/", canal::as_app<Late>(probe, true)),
                                     canal::path("quick/", canal::as_app<Quick>())}});
    return canal::ProtocolTypeRouter{std::move(routes)};
}

// The whole answer to `GET target` on a new connection (until the server closes it).
std::string raw_get(TestServer const& server, std::string const& target, std::chrono::milliseconds limit = 5s) {
    auto raw = server.raw();
    if (!raw->send("GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")) {
        return "send failed";
    }
    std::string got;
    auto const deadline = std::chrono::steady_clock::now() + limit;
    while (!raw->peer_closed() && std::chrono::steady_clock::now() < deadline) {
        got += raw->read_some(100ms);
    }
    return got;
}

} // namespace

BOOST_AUTO_TEST_SUITE(serving_knobs)

BOOST_AUTO_TEST_CASE(a_websocket_open_past_websocket_timeout_is_closed_with_1001) {
    auto probe = std::make_shared<KnobProbe>();
    auto settings = test_settings();
    settings.websocket_timeout = 400ms;
    TestServer server{app(probe), settings};
    auto raw = server.raw();
    auto const start = std::chrono::steady_clock::now();
    BOOST_REQUIRE_EQUAL(raw->websocket_handshake("/ws/hello/"), 101);
    BOOST_TEST(raw->read_frame().payload == "hello");
    auto close = raw->read_frame(3s);
    BOOST_TEST(close.opcode == 8, "got opcode " << close.opcode);
    BOOST_TEST(close.close_code() == 1001);
    BOOST_TEST((std::chrono::steady_clock::now() - start >= 350ms));
    BOOST_REQUIRE(raw->send_frame(8, std::string("\x03\xe9", 2))); // our close answer
    BOOST_TEST(eventually([&] { return probe->disconnect_code.load() == 1001; }));
}

BOOST_AUTO_TEST_CASE(without_websocket_timeout_a_websocket_stays_open) {
    auto probe = std::make_shared<KnobProbe>();
    TestServer server{app(probe)}; // websocket_timeout 0: no limit
    auto raw = server.raw();
    BOOST_REQUIRE_EQUAL(raw->websocket_handshake("/ws/hello/"), 101);
    BOOST_TEST(raw->read_frame().payload == "hello");
    BOOST_TEST(raw->read_frame(800ms).opcode == -1); // nothing: no close
}

BOOST_AUTO_TEST_CASE(http_timeout_answers_503_to_a_response_that_never_started) {
    auto probe = std::make_shared<KnobProbe>();
    auto settings = test_settings();
    settings.http_timeout = 300ms;
    TestServer server{app(probe), settings};
    auto const start = std::chrono::steady_clock::now();
    auto const got = raw_get(server, "/late/", 5s);
    auto const took = std::chrono::steady_clock::now() - start;
    BOOST_TEST(got.rfind("HTTP/1.1 503", 0) == 0U, got);
    BOOST_TEST((took < 1400ms)); // answered before the application's 1.5 s
    // The application's late send is refused (RequestAborted), not written.
    BOOST_TEST(eventually([&] { return probe->late_sends_aborted.load() == 1; }, 5s));
    // A quick response is not affected.
    BOOST_TEST(raw_get(server, "/quick/").find("quick") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(http_timeout_cuts_a_response_that_started) {
    auto probe = std::make_shared<KnobProbe>();
    auto settings = test_settings();
    settings.http_timeout = 300ms;
    TestServer server{app(probe), settings};
    auto const got = raw_get(server, "/stream/", 5s);
    BOOST_TEST(got.rfind("HTTP/1.1 200", 0) == 0U, got);
    BOOST_TEST(got.find("first part") != std::string::npos);
    BOOST_TEST(got.find("too late") == std::string::npos);
    BOOST_TEST(eventually([&] { return probe->late_sends_aborted.load() == 1; }, 5s));
}

BOOST_AUTO_TEST_CASE(server_name_sets_or_removes_the_server_header) {
    auto probe = std::make_shared<KnobProbe>();
    {
        TestServer server{app(probe)};
        BOOST_TEST(raw_get(server, "/quick/").find("\r\nServer: canal\r\n") != std::string::npos);
    }
    auto settings = test_settings();
    settings.server_name = "edge-7";
    {
        TestServer server{app(probe), settings};
        BOOST_TEST(raw_get(server, "/quick/").find("\r\nServer: edge-7\r\n") != std::string::npos);
        BOOST_TEST(raw_get(server, "/nowhere/").find("\r\nServer: edge-7\r\n") != std::string::npos);
    }
    settings.server_name.clear();
    {
        TestServer server{app(probe), settings};
        auto const got = raw_get(server, "/quick/");
        BOOST_TEST(got.find("quick") != std::string::npos);
        BOOST_TEST(got.find("\r\nServer:") == std::string::npos, got);
    }
}

BOOST_AUTO_TEST_SUITE_END()
