// Integration: --proxy-headers and --root-path on a real server: what an HTTP consumer and a
// websocket consumer see as their client, scheme and root path, with the X-Forwarded-*
// headers of a trusted proxy (loopback), and of an untrusted one (ignored).
#include "test_server.hpp"

#include <canal/consumers/async_http_consumer.hpp>
#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>

#include <boost/test/unit_test.hpp>

#include <map>
#include <string>

namespace {

using namespace canal::test;
using canal::awaitable;

std::string client_of(canal::Scope const& scope) {
    auto const& c = scope.client;
    return (c ? c->host + ":" + std::to_string(c->port) : std::string("none")) + " " +
           scope.scheme + " root=" + scope.root_path;
}

class WhoAmI : public canal::AsyncHttpConsumer {
protected:
    awaitable<void> handle(std::string /*body*/) override {
        auto text = client_of(scope());
        co_await send_response(200, std::move(text));
    }
};

class WsWhoAmI : public canal::AsyncWebsocketConsumer {
protected:
    awaitable<void> connect() override {
        co_await accept();
        auto text = client_of(scope());
        co_await send(std::move(text));
    }
};

// Both ends of the connection, as the scope has them: "CLIENT_HOST SERVER_HOST:SERVER_PORT".
class WsWhereAmI : public canal::AsyncWebsocketConsumer {
protected:
    awaitable<void> connect() override {
        co_await accept();
        auto const& c = scope().client;
        auto const& s = scope().server;
        std::string text = (c && c->port != 0 ? c->host : std::string("none")) + " " +
                           (s ? s->host + ":" + std::to_string(s->port) : std::string("none"));
        co_await send(std::move(text));
    }
};

canal::Application app() {
    std::map<std::string, canal::Application, std::less<>> routes;
    routes.emplace("http", canal::URLRouter{{canal::path("who/", canal::as_app<WhoAmI>())}});
    routes.emplace("websocket",
                   canal::URLRouter{{canal::path("ws/who/", canal::as_app<WsWhoAmI>()),
                                     canal::path("ws/where/", canal::as_app<WsWhereAmI>())}});
    return canal::ProtocolTypeRouter{std::move(routes)};
}

std::string const forwarded = "X-Forwarded-For: 1.1.1.1, 203.0.113.7\r\n"
                              "X-Forwarded-Port: 51000\r\nX-Forwarded-Proto: https\r\n";

// The body of `GET ROOT/who/` sent with `extra` headers (the proxy passes the whole path; the
// router takes root_path off it).
std::string who(TestServer const& server, std::string const& extra,
                std::string const& root = "/chat") {
    auto raw = server.raw();
    if (!raw->send("GET " + root + "/who/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + extra + "\r\n")) {
        return "send failed";
    }
    std::string got;
    auto const deadline = std::chrono::steady_clock::now() + 5s;
    while (!raw->peer_closed() && std::chrono::steady_clock::now() < deadline) {
        got += raw->read_some(200ms);
    }
    auto const body = got.find("\r\n\r\n");
    return body == std::string::npos ? got : got.substr(body + 4);
}

// The first text frame of a websocket to ROOT/ws/who/ opened with `extra` headers.
std::string ws_who(TestServer const& server, std::string const& extra,
                   std::string const& root = "/chat") {
    auto raw = server.raw();
    auto const status = raw->websocket_handshake(root + "/ws/who/", 5s, {}, "dGhlIHNhbXBsZSBub25jZQ==", extra);
    if (status != 101) {
        return "handshake: " + std::to_string(status);
    }
    return raw->read_frame(5s).payload;
}

canal::Settings behind_proxy(std::vector<std::string> trusted) {
    auto s = test_settings();
    s.proxy_headers = true;
    s.trusted_proxies = std::move(trusted);
    s.root_path = "/chat";
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(behind_a_proxy)

BOOST_AUTO_TEST_CASE(a_trusted_proxys_headers_reach_the_scope_over_http_and_websocket) {
    TestServer server{app(), behind_proxy({"127.0.0.1"})};
    BOOST_TEST(who(server, forwarded) == "203.0.113.7:51000 https root=/chat");
    BOOST_TEST(ws_who(server, forwarded) == "203.0.113.7:51000 wss root=/chat");
    auto const plain = who(server, "");
    BOOST_TEST(plain.starts_with("127.0.0.1:"), plain); // no headers: the peer itself
    BOOST_TEST(plain.ends_with(" http root=/chat"), plain);
    auto const outside = who(server, "", ""); // a path outside the mount point: 404
    BOOST_TEST(outside.find("root=") == std::string::npos, outside);
}

BOOST_AUTO_TEST_CASE(headers_from_an_untrusted_peer_or_without_the_flag_are_ignored) {
    TestServer untrusted{app(), behind_proxy({"10.0.0.0/8"})};
    auto const a = who(untrusted, forwarded);
    BOOST_TEST(a.starts_with("127.0.0.1:"), a);
    BOOST_TEST(a.ends_with(" http root=/chat"), a);
    TestServer off{app()}; // --proxy-headers not given
    auto const b = ws_who(off, forwarded, "");
    BOOST_TEST(b.starts_with("127.0.0.1:"), b);
    BOOST_TEST(b.ends_with(" ws root="), b);
}

BOOST_AUTO_TEST_CASE(the_scope_has_both_ends_of_the_connection) {
    // Bound to one address, the server's end is that address (known without asking the
    // socket); bound to every address, it is the address the client reached.
    for (std::string const host : {"127.0.0.1", "0.0.0.0"}) {
        auto settings = test_settings();
        settings.host = host;
        TestServer server{app(), settings};
        auto raw = server.raw();
        auto const status =
            raw->websocket_handshake("/ws/where/", 5s, {}, "dGhlIHNhbXBsZSBub25jZQ==", "");
        BOOST_TEST(status == 101, host);
        auto const got = raw->read_frame(5s).payload;
        BOOST_TEST(got == "127.0.0.1 127.0.0.1:" + std::to_string(server.port()), host);
    }
}

BOOST_AUTO_TEST_SUITE_END()
