// tests/chat_test.cpp: the chat consumer behind its middleware, driven by
// WebsocketCommunicator, and the login page, driven by HttpCommunicator: no server, no socket.
#define BOOST_TEST_MODULE chat
#include "chat/routing.hpp"
#include "chat/views.hpp"

#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/middleware/auth_middleware.hpp>
#include <canal/middleware/csrf.hpp>
#include <canal/middleware/json_file_user_store.hpp>
#include <canal/middleware/memory_session_store.hpp>
#include <canal/middleware/session.hpp>
#include <canal/testing/http_communicator.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace json = boost::json;

// The application as main() builds it, with two users, alice and bob.
struct ChatFixture {
    std::shared_ptr<canal::JsonFileUserStore> users;
    std::shared_ptr<canal::MemorySessionStore> sessions =
        std::make_shared<canal::MemorySessionStore>();
    canal::Application app;
    canal::Scope scope;

    ChatFixture() {
        std::filesystem::remove("test_users.json");
        users = std::make_shared<canal::JsonFileUserStore>("test_users.json");
        // 1 PBKDF2 iteration instead of 260000: fast to check, and these tests are no attack.
        users->create_user("alice", "alice's password", false, 1);
        users->create_user("bob", "bob's password", false, 1);
        app = chat::websocket_router(sessions, users);
        scope.channel_layer = std::make_shared<canal::InMemoryChannelLayer>();
        // What a browser sends with a page of this site (AllowedHostsOriginValidator).
        scope.headers.emplace_back("origin", "http://127.0.0.1:8000");
    }

    // The scope of a browser where `username` logged in: a session that login() filled.
    canal::Scope logged_in(std::string const& username) const {
        canal::Scope s = scope;
        s.session =
            std::make_shared<canal::Session>(sessions, "", json::object(), std::chrono::hours(1));
        canal::login(s, *users->get(username));
        return s;
    }
};

BOOST_FIXTURE_TEST_CASE(anonymous_users_are_refused, ChatFixture) {
    canal::WebsocketCommunicator client{app, "/ws/chat/lobby/", scope};
    BOOST_TEST(!client.connect().accepted);
}

BOOST_FIXTURE_TEST_CASE(messages_carry_the_username, ChatFixture) {
    canal::WebsocketCommunicator alice{app, "/ws/chat/lobby/", logged_in("alice")};
    canal::WebsocketCommunicator bob{app, "/ws/chat/lobby/", logged_in("bob")};
    BOOST_TEST(alice.connect().accepted);
    BOOST_TEST(bob.connect().accepted);

    alice.send_json_to(json::object{{"message", "hello"}});
    json::value const expected = json::object{{"message", "alice: hello"}};
    BOOST_TEST(alice.receive_json_from() == expected);
    BOOST_TEST(bob.receive_json_from() == expected);

    alice.disconnect();
    bob.disconnect();
}

BOOST_FIXTURE_TEST_CASE(other_rooms_hear_nothing, ChatFixture) {
    canal::WebsocketCommunicator alice{app, "/ws/chat/lobby/", logged_in("alice")};
    canal::WebsocketCommunicator bob{app, "/ws/chat/kitchen/", logged_in("bob")};
    BOOST_TEST(alice.connect().accepted);
    BOOST_TEST(bob.connect().accepted);

    alice.send_json_to(json::object{{"message", "hello"}});
    BOOST_TEST(alice.receive_json_from().at("message") == "alice: hello");
    BOOST_TEST(bob.receive_nothing());

    alice.disconnect();
    bob.disconnect();
}

BOOST_FIXTURE_TEST_CASE(other_sites_are_refused, ChatFixture) {
    auto s = logged_in("alice");
    s.headers = {{"origin", "http://evil.example"}};
    canal::WebsocketCommunicator client{app, "/ws/chat/lobby/", s};
    BOOST_TEST(!client.connect().accepted);
}

BOOST_FIXTURE_TEST_CASE(an_invalid_room_name_is_refused, ChatFixture) {
    canal::WebsocketCommunicator client{app, "/ws/chat/no%20spaces/", logged_in("alice")};
    BOOST_TEST(!client.connect().accepted);
}

BOOST_FIXTURE_TEST_CASE(the_login_form_logs_alice_in, ChatFixture) {
    // The page only needs its two fields here.
    std::ofstream("test_login.html") << "{{csrf_token}} {{error}}";
    auto login =
        canal::AuthMiddlewareStack(chat::login_view("test_login.html", users), sessions, users);
    // What a browser posts: the CSRF cookie, a masked token, and a space sent as '+'.
    auto const secret = canal::csrf_new_secret();
    canal::Scope browser;
    browser.headers.emplace_back("cookie", std::string(canal::csrf_cookie_name) + "=" + secret);
    std::string form = "username=alice&password=alice%27s+password&csrfmiddlewaretoken=" +
                       canal::csrf_mask(secret);
    canal::HttpCommunicator post{login, "POST", "/login/", form, browser};
    auto const response = post.get_response();
    BOOST_TEST(response.status == 302);

    std::string wrong =
        "username=alice&password=alice%27s&csrfmiddlewaretoken=" + canal::csrf_mask(secret);
    canal::HttpCommunicator again{login, "POST", "/login/", wrong, browser};
    BOOST_TEST(again.get_response().status == 200); // the form again, with an error
}
