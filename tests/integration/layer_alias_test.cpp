// Integration: named channel layers (Channels' CHANNEL_LAYERS aliases) over a real server:
// consumers with a channel_layer_alias in both styles, get_channel_layer() from an HTTP
// consumer, and an alias the application does not have.
#include "test_server.hpp"

#include <canal/consumers/async_http_consumer.hpp>
#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/consumers/websocket_consumer.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>

#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <string>

namespace {

using namespace canal::test;
using canal::awaitable;

canal::Message note(std::string const& text) {
    boost::json::object obj;
    obj["type"] = "room.note";
    obj["text"] = text;
    return canal::Message(std::move(obj));
}

/** Joins "room" on the layer `alias`; relays room.note messages. */
class AsyncOnAlias : public canal::AsyncWebsocketConsumer {
public:
    explicit AsyncOnAlias(std::string alias) {
        channel_layer_alias = std::move(alias);
        groups.emplace_back("room");
        on("room.note", &AsyncOnAlias::relay);
    }

private:
    awaitable<void> relay(canal::Message const& m) {
        std::string text = "async " + std::string(m.at("text").as_string());
        co_await send(std::move(text));
    }
};

class SyncOnAlias : public canal::WebsocketConsumer {
public:
    explicit SyncOnAlias(std::string alias) {
        channel_layer_alias = std::move(alias);
        groups.emplace_back("room");
        on("room.note", &SyncOnAlias::relay);
    }

private:
    void relay(canal::Message const& m) { send("sync " + std::string(m.at("text").as_string())); }
};

/** POST body → group_send to "room" on the layer named by the query string. */
class Announce : public canal::AsyncHttpConsumer {
protected:
    awaitable<void> handle(std::string body) override {
        auto layer = canal::get_channel_layer(scope(), scope().query_string);
        if (!layer) {
            std::string missing = "no layer '" + scope().query_string + "'\n";
            co_await send_response(404, std::move(missing));
            co_return;
        }
        co_await layer->group_send("room", note(body));
        std::string sent = "sent\n";
        co_await send_response(200, std::move(sent));
    }
};

canal::Application app() {
    canal::URLRouter ws{{
        canal::path("async/default/", canal::as_app<AsyncOnAlias>(std::string("default"))),
        canal::path("async/side/", canal::as_app<AsyncOnAlias>(std::string("side"))),
        canal::path("sync/side/", canal::as_app<SyncOnAlias>(std::string("side"))),
        canal::path("async/nope/", canal::as_app<AsyncOnAlias>(std::string("nope"))),
        canal::path("sync/nope/", canal::as_app<SyncOnAlias>(std::string("nope"))),
    }};
    canal::URLRouter http{{canal::path("announce/", canal::as_app<Announce>())}};
    std::map<std::string, canal::Application, std::less<>> routes;
    routes.emplace("websocket", std::move(ws));
    routes.emplace("http", std::move(http));
    return canal::ProtocolTypeRouter{std::move(routes)};
}

/** `POST target` with `body` over a raw connection: the whole response, as text. */
std::string post(TestServer const& server, std::string const& target, std::string const& body) {
    auto raw = server.raw();
    std::string const request = "POST " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" +
                                "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                                body;
    if (!raw->send(request)) {
        return "send failed";
    }
    std::string got;
    auto const deadline = std::chrono::steady_clock::now() + 5s;
    while (!raw->peer_closed() && std::chrono::steady_clock::now() < deadline) {
        got += raw->read_some(200ms);
    }
    return got;
}

struct TwoLayers {
    std::shared_ptr<canal::ChannelLayer> main = std::make_shared<canal::InMemoryChannelLayer>();
    std::shared_ptr<canal::ChannelLayer> side = std::make_shared<canal::InMemoryChannelLayer>();

    [[nodiscard]] canal::Settings settings() const {
        auto s = test_settings();
        s.channel_layer = main;
        s.channel_layers.emplace("side", side);
        return s;
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(layer_aliases)

BOOST_AUTO_TEST_CASE(a_consumer_with_an_alias_uses_that_layer_in_both_styles) {
    TwoLayers layers;
    TestServer server{app(), layers.settings()};
    auto on_default = server.ws("/async/default/");
    auto async_side = server.ws("/async/side/");
    auto sync_side = server.ws("/sync/side/");
    BOOST_REQUIRE(on_default);
    BOOST_REQUIRE(async_side);
    BOOST_REQUIRE(sync_side);
    run_sync(layers.side->group_send("room", note("to the side")));
    BOOST_TEST(async_side.ws->read().data == "async to the side");
    BOOST_TEST(sync_side.ws->read().data == "sync to the side");
    BOOST_TEST((on_default.ws->read(300ms).kind == WsFrame::Kind::timeout));
    run_sync(layers.main->group_send("room", note("to the main")));
    BOOST_TEST(on_default.ws->read().data == "async to the main");
    BOOST_TEST((async_side.ws->read(300ms).kind == WsFrame::Kind::timeout));
    BOOST_TEST((sync_side.ws->read(300ms).kind == WsFrame::Kind::timeout));
}

BOOST_AUTO_TEST_CASE(get_channel_layer_finds_each_alias_from_an_http_consumer) {
    TwoLayers layers;
    TestServer server{app(), layers.settings()};
    auto on_default = server.ws("/async/default/");
    auto on_side = server.ws("/async/side/");
    BOOST_REQUIRE(on_default);
    BOOST_REQUIRE(on_side);
    auto r = post(server, "/announce/?side", "hello");
    BOOST_TEST(r.starts_with("HTTP/1.1 200"), r);
    BOOST_TEST(on_side.ws->read().data == "async hello");
    r = post(server, "/announce/?default", "hi");
    BOOST_TEST(r.starts_with("HTTP/1.1 200"), r);
    BOOST_TEST(on_default.ws->read().data == "async hi");
    r = post(server, "/announce/?nope", "lost");
    BOOST_TEST(r.starts_with("HTTP/1.1 404"), r);
    BOOST_TEST(r.ends_with("\r\n\r\nno layer 'nope'\n"), r);
    BOOST_TEST((on_side.ws->read(300ms).kind == WsFrame::Kind::timeout));
}

BOOST_AUTO_TEST_CASE(an_alias_the_application_lacks_refuses_the_connection_and_says_why) {
    TwoLayers layers;
    TestServer server{app(), layers.settings()};
    for (std::string target : {"/async/nope/", "/sync/nope/"}) {
        auto c = server.ws(target);
        BOOST_TEST(!c.ws, target << " was accepted");
        BOOST_TEST(c.http_status == 500, target << ": " << c.http_status << " " << c.error);
    }
    // Without named layers, "default" is the only alias.
    TestServer plain{app()};
    BOOST_TEST(plain.ws("/async/default/").http_status == 101);
    BOOST_TEST(plain.ws("/async/side/").http_status == 500);
}

BOOST_AUTO_TEST_SUITE_END()
