// The sample chat::ChatConsumer behind a URLRouter, several communicators sharing one
// InMemoryChannelLayer: room fan-out and isolation, refused room names, bad messages, and
// one serialization shared by every member of a group message.
#include "chat_app.hpp"

#include "consumer_test_helpers.hpp"

#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace json = boost::json;
using canal::WebsocketCommunicator;
using canal::test::as_close;
using canal::test::as_send;

/** One room chat: the websocket route of the sample app and a shared layer. */
struct ChatFixture {
    std::shared_ptr<canal::InMemoryChannelLayer> layer =
        std::make_shared<canal::InMemoryChannelLayer>();
    canal::Application app = canal::URLRouter{{
        canal::path("ws/chat/<str:room_name>/", canal::as_app<chat::ChatConsumer>()),
    }};

    /** A communicator for `room` (not connected yet). */
    std::unique_ptr<WebsocketCommunicator> client(std::string const& room) {
        canal::Scope scope;
        scope.channel_layer = layer;
        return std::make_unique<WebsocketCommunicator>(app, "/ws/chat/" + room + "/",
                                                       std::move(scope));
    }

    /** A connected communicator for `room`. */
    std::unique_ptr<WebsocketCommunicator> member(std::string const& room) {
        auto c = client(room);
        BOOST_TEST_REQUIRE(c->connect().accepted);
        return c;
    }
};

json::object chat_message(std::string const& text) {
    json::object m;
    m["message"] = text;
    return m;
}

} // namespace

BOOST_AUTO_TEST_SUITE(chat_consumer)

BOOST_AUTO_TEST_CASE(members_of_a_room_all_receive_a_message) {
    ChatFixture f;
    auto a = f.member("lobby");
    auto b = f.member("lobby");
    a->send_json_to(chat_message("hi"));
    json::value expected = chat_message("hi");
    // The sender is a member too.
    BOOST_TEST(a->receive_json_from() == expected);
    BOOST_TEST(b->receive_json_from() == expected);
    BOOST_TEST(a->receive_nothing());
    BOOST_TEST(b->receive_nothing());

    b->send_json_to(chat_message("hello back"));
    BOOST_TEST(b->receive_json_from() == json::value(chat_message("hello back")));
    BOOST_TEST(a->receive_json_from() == json::value(chat_message("hello back")));
    a->disconnect();
    b->disconnect();
}

BOOST_AUTO_TEST_CASE(rooms_are_isolated) {
    ChatFixture f;
    auto a = f.member("lobby");
    auto other = f.member("kitchen");
    a->send_json_to(chat_message("lobby only"));
    BOOST_TEST(a->receive_json_from() == json::value(chat_message("lobby only")));
    BOOST_TEST(other->receive_nothing());

    other->send_json_to(chat_message("kitchen only"));
    BOOST_TEST(other->receive_json_from() == json::value(chat_message("kitchen only")));
    BOOST_TEST(a->receive_nothing());
    a->disconnect();
    other->disconnect();
}

BOOST_AUTO_TEST_CASE(a_member_that_left_receives_nothing_more) {
    ChatFixture f;
    auto a = f.member("lobby");
    auto b = f.member("lobby");
    b->disconnect();
    a->send_json_to(chat_message("anyone?"));
    BOOST_TEST(a->receive_json_from() == json::value(chat_message("anyone?")));
    BOOST_TEST(b->receive_nothing());
    BOOST_TEST(f.layer->dropped_count() == 0U);
    a->disconnect();
}

BOOST_AUTO_TEST_CASE(an_invalid_room_name_is_refused) {
    ChatFixture f;
    for (std::string room :
         {std::string(200, 'a'), std::string("bad room"), std::string("caf\xc3\xa9")}) {
        auto c = f.client(room);
        auto result = c->connect();
        BOOST_TEST(!result.accepted, "room '" << room << "' was accepted");
        BOOST_TEST(result.close_code == 1000);
        BOOST_TEST(c->receive_nothing());
        c->disconnect(1006);
    }
    // A valid name in the same router still works.
    auto ok = f.member(std::string(80, 'a'));
    ok->disconnect();
}

BOOST_AUTO_TEST_CASE(a_message_without_text_gets_an_error_and_the_connection_stays) {
    ChatFixture f;
    auto a = f.member("lobby");
    auto b = f.member("lobby");
    json::object bad;
    bad["nomessage"] = 1;
    a->send_json_to(bad);
    json::value error = a->receive_json_from();
    BOOST_TEST(error.at("error").is_string());
    BOOST_TEST(b->receive_nothing()); // errors go to the sender only

    // As in Channels, any JSON value is a message: relayed to the room as it is.
    json::object nested;
    nested["message"] = json::object{{"message", "hi"}, {"type", "send"}};
    a->send_json_to(nested);
    // The sender first: a communicator's consumer runs while its test client waits.
    BOOST_TEST(a->receive_json_from() == json::value(nested));
    BOOST_TEST(b->receive_json_from() == json::value(nested));

    a->send_json_to(chat_message("still here"));
    BOOST_TEST(a->receive_json_from() == json::value(chat_message("still here")));
    BOOST_TEST(b->receive_json_from() == json::value(chat_message("still here")));
    a->disconnect();
    b->disconnect();
}

BOOST_AUTO_TEST_CASE(a_group_message_is_serialized_once_for_all_members) {
    ChatFixture f;
    std::vector<std::unique_ptr<WebsocketCommunicator>> members;
    for (int i = 0; i < 3; ++i) {
        members.push_back(f.member("lobby"));
    }
    // The sender's context runs first (its receive_json does the group_send); the others
    // then find the message posted to theirs.
    members[1]->send_json_to(chat_message("once"));
    std::vector<std::shared_ptr<std::string const>> payloads;
    for (int i : {1, 0, 2}) {
        canal::Event ev = members[i]->receive_output();
        payloads.push_back(as_send(ev).data);
    }
    BOOST_TEST(json::parse(*payloads[0]) == json::value(chat_message("once")));
    BOOST_TEST(payloads[0].get() == payloads[1].get());
    BOOST_TEST(payloads[1].get() == payloads[2].get());

    // The next message is a new serialization, shared again.
    members[0]->send_json_to(chat_message("twice"));
    std::vector<std::shared_ptr<std::string const>> next;
    for (int i : {0, 1, 2}) {
        canal::Event ev = members[i]->receive_output();
        next.push_back(as_send(ev).data);
    }
    BOOST_TEST(*next[2] == R"({"message":"twice"})");
    BOOST_TEST(next[0].get() == next[2].get());
    BOOST_TEST(next[0].get() != payloads[0].get());
    for (auto& m : members) {
        m->disconnect();
    }
}

BOOST_AUTO_TEST_CASE(a_path_outside_the_routes_is_not_found) {
    ChatFixture f;
    canal::Scope scope;
    scope.channel_layer = f.layer;
    WebsocketCommunicator c(f.app, "/ws/nochat/lobby/", std::move(scope));
    BOOST_CHECK_THROW(c.connect(), canal::RouteNotFound);
}

BOOST_AUTO_TEST_SUITE_END()
