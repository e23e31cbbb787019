// tests/chat_test.cpp: the chat consumer driven by WebsocketCommunicator, no server, no socket.
#define BOOST_TEST_MODULE chat
#include "chat/routing.hpp"

#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <memory>

namespace json = boost::json;

// Communicators that share one layer, as the connections of one server do.
struct ChatFixture {
    canal::Application app = chat::websocket_router();
    canal::Scope scope;
    ChatFixture() { scope.channel_layer = std::make_shared<canal::InMemoryChannelLayer>(); }
};

BOOST_FIXTURE_TEST_CASE(a_message_reaches_everyone_in_the_room, ChatFixture) {
    canal::WebsocketCommunicator alice{app, "/ws/chat/lobby/", scope};
    canal::WebsocketCommunicator bob{app, "/ws/chat/lobby/", scope};
    BOOST_TEST(alice.connect().accepted);
    BOOST_TEST(bob.connect().accepted);

    json::value const hello = json::object{{"message", "hello"}};
    alice.send_json_to(hello);
    // The sender is in the group too. Read its copy first: a communicator runs its
    // consumer only while you wait on it, and alice's consumer does the group_send.
    BOOST_TEST(alice.receive_json_from() == hello);
    BOOST_TEST(bob.receive_json_from() == hello);

    alice.disconnect();
    bob.disconnect();
}

BOOST_FIXTURE_TEST_CASE(other_rooms_hear_nothing, ChatFixture) {
    canal::WebsocketCommunicator alice{app, "/ws/chat/lobby/", scope};
    canal::WebsocketCommunicator carol{app, "/ws/chat/kitchen/", scope};
    BOOST_TEST(alice.connect().accepted);
    BOOST_TEST(carol.connect().accepted);

    alice.send_json_to(json::object{{"message", "hello"}});
    BOOST_TEST(alice.receive_json_from().at("message") == "hello");
    BOOST_TEST(carol.receive_nothing());

    alice.disconnect();
    carol.disconnect();
}

BOOST_FIXTURE_TEST_CASE(an_invalid_room_name_is_refused, ChatFixture) {
    canal::WebsocketCommunicator client{app, "/ws/chat/no%20spaces/", scope};
    BOOST_TEST(!client.connect().accepted);
}
