// tests/guide_test.cpp: every consumer of the guide, driven by the communicators.
#define BOOST_TEST_MODULE guide
#include "guide/announce_view.hpp"
#include "guide/clock_consumer.hpp"
#include "guide/echo_consumer.hpp"
#include "guide/raw_echo_consumer.hpp"
#include "guide/token_auth_middleware.hpp"

#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/testing/http_communicator.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <variant>

namespace json = boost::json;

BOOST_AUTO_TEST_CASE(echo_sends_each_message_back) {
    canal::WebsocketCommunicator client{canal::as_app<EchoConsumer>(), "/ws/echo/"};
    BOOST_TEST_REQUIRE(client.connect().accepted);
    client.send_to("hello");
    BOOST_TEST(client.receive_from() == "hello");
    client.disconnect();
}

BOOST_AUTO_TEST_CASE(the_generic_consumer_handles_the_events_itself) {
    canal::WebsocketCommunicator client{canal::as_app<RawEchoConsumer>(), "/ws/raw/"};
    BOOST_TEST_REQUIRE(client.connect().accepted);
    client.send_to("text");
    BOOST_TEST(client.receive_from() == "text");
    client.send_bytes_to("bytes");
    auto reply = client.receive_output();
    auto const* frame = std::get_if<canal::WebsocketSend>(&reply);
    BOOST_TEST_REQUIRE(frame != nullptr);
    BOOST_TEST(frame->binary);
    BOOST_TEST(*frame->data == "bytes");
    client.disconnect();
    BOOST_TEST(client.communicator().finished());
}

struct TokenFixture {
    canal::Application app;
    TokenFixture() {
        TokenAuthMiddleware::Tokens tokens;
        tokens.emplace("s3cret", canal::User{"alice", false});
        tokens.emplace("a+b", canal::User{"bob", false});
        app = TokenAuthMiddleware(canal::as_app<GreeterConsumer>(), std::move(tokens));
    }
};

BOOST_FIXTURE_TEST_CASE(a_known_token_names_the_user, TokenFixture) {
    canal::WebsocketCommunicator client{app, "/ws/hello/?token=s3cret"};
    BOOST_TEST_REQUIRE(client.connect().accepted);
    BOOST_TEST(client.receive_from() == "hello, alice");
    client.disconnect();
}

BOOST_FIXTURE_TEST_CASE(the_token_is_url_decoded, TokenFixture) {
    canal::WebsocketCommunicator client{app, "/ws/hello/?token=a%2Bb"};
    BOOST_TEST_REQUIRE(client.connect().accepted);
    BOOST_TEST(client.receive_from() == "hello, bob");
    client.disconnect();
}

BOOST_FIXTURE_TEST_CASE(no_token_or_an_unknown_one_is_refused, TokenFixture) {
    canal::WebsocketCommunicator none{app, "/ws/hello/"};
    BOOST_TEST(!none.connect().accepted);
    canal::WebsocketCommunicator unknown{app, "/ws/hello/?token=guess"};
    BOOST_TEST(!unknown.connect().accepted);
}

BOOST_FIXTURE_TEST_CASE(a_malformed_query_names_nobody, TokenFixture) {
    // The server refuses such a request target before any application sees it (so does
    // WebsocketCommunicator); the middleware does not count on that.
    canal::Scope scope;
    scope.type = "websocket";
    scope.path = "/ws/hello/";
    scope.query_string = "token=%zz";
    canal::ApplicationCommunicator raw{app, scope};
    raw.send_input(canal::WebsocketConnect{});
    BOOST_TEST(std::holds_alternative<canal::WebsocketClose>(raw.receive_output()));
}

BOOST_AUTO_TEST_CASE(the_clock_ticks_until_the_client_leaves) {
    canal::Scope scope;
    scope.channel_layer = std::make_shared<canal::InMemoryChannelLayer>();
    auto app = canal::as_app<ClockConsumer>(std::chrono::milliseconds(20));
    canal::WebsocketCommunicator client{app, "/ws/clock/", scope};
    BOOST_TEST_REQUIRE(client.connect().accepted);
    BOOST_TEST(client.receive_json_from() == json::parse(R"({"tick": 1})"));
    BOOST_TEST(client.receive_json_from() == json::parse(R"({"tick": 2})"));
    client.disconnect();
    BOOST_TEST(client.communicator().finished());
}

BOOST_AUTO_TEST_CASE(a_post_reaches_every_member_of_the_group) {
    canal::Scope scope;
    scope.channel_layer = std::make_shared<canal::InMemoryChannelLayer>();
    canal::WebsocketCommunicator first{canal::as_app<NewsConsumer>(), "/ws/news/", scope};
    canal::WebsocketCommunicator second{canal::as_app<NewsConsumer>(), "/ws/news/", scope};
    BOOST_TEST_REQUIRE(first.connect().accepted);
    BOOST_TEST_REQUIRE(second.connect().accepted);

    canal::HttpCommunicator post{canal::as_app<AnnounceView>(), "POST", "/announce/",
                                 "doors open at nine", scope};
    BOOST_TEST(post.get_response().status == 202);
    auto const expected = json::parse(R"({"news": "doors open at nine"})");
    BOOST_TEST(first.receive_json_from() == expected);
    BOOST_TEST(second.receive_json_from() == expected);

    canal::HttpCommunicator get{canal::as_app<AnnounceView>(), "GET", "/announce/", "", scope};
    BOOST_TEST(get.get_response().status == 405);
    BOOST_TEST(first.receive_nothing());
    first.disconnect();
    second.disconnect();
}
