// Integration: the tutorial room chat (apps/chat) served by an in-process canal::Server.
#include "chat_app.hpp"

#include "test_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <array>
#include <string>

namespace {

using namespace canal::test;
using Kind = WsFrame::Kind;

/** The chat server of one test. */
struct ChatServer : TestServer {
    ChatServer() : TestServer(chat::make_application(CANAL_CHAT_STATIC_DIR)) {}
};

std::string chat_json(std::string const& text) {
    boost::json::object obj;
    obj["message"] = text;
    return boost::json::serialize(obj);
}

/** The text of a `{"message": TEXT}` frame, or a description of what the frame was instead. */
std::string message_of(WsFrame const& f) {
    if (f.kind != Kind::text) {
        return "<not text: " + f.describe() + ">";
    }
    boost::system::error_code ec;
    auto v = boost::json::parse(f.data, ec);
    if (ec || !v.is_object() || !v.as_object().contains("message") ||
        !v.as_object().at("message").is_string()) {
        return "<not a chat message: " + f.data + ">";
    }
    return std::string(v.as_object().at("message").as_string());
}

std::unique_ptr<WsClient> join(TestServer const& server, std::string const& room) {
    auto r = server.ws("/ws/chat/" + room + "/");
    BOOST_REQUIRE_MESSAGE(r, "joining room '" << room << "' failed: " << r.error << " (HTTP "
                                              << r.http_status << ")");
    return std::move(r.ws);
}

/** Sends one chat message and checks that the sender sees it come back (so the room works). */
void check_room_works(TestServer const& server, std::string const& room) {
    auto c = join(server, room);
    BOOST_REQUIRE_MESSAGE(c->send_text(chat_json("still alive")), c->last_error());
    BOOST_TEST(message_of(c->read()) == "still alive");
}

} // namespace

BOOST_AUTO_TEST_SUITE(chat)

BOOST_AUTO_TEST_CASE(members_of_a_room_receive_every_message_in_order) {
    ChatServer server;
    auto a = join(server, "alpha");
    auto b = join(server, "alpha");
    auto outsider = join(server, "beta");

    constexpr int count = 100;
    for (int i = 0; i < count; ++i) {
        BOOST_REQUIRE_MESSAGE(a->send_text(chat_json("m" + std::to_string(i))), a->last_error());
    }
    // Both members, the sender included (as in the tutorial), get all of them in order.
    for (auto* client : {a.get(), b.get()}) {
        for (int i = 0; i < count; ++i) {
            auto const got = message_of(client->read());
            BOOST_REQUIRE_MESSAGE(got == "m" + std::to_string(i),
                                  (client == a.get() ? "sender" : "other member")
                                      << " expected m" << i << ", got " << got);
        }
    }
    // Everything for room alpha has been delivered; room beta got none of it.
    auto const other = outsider->read(300ms);
    BOOST_TEST(other.kind == Kind::timeout, "room beta received " << other.describe());
}

BOOST_AUTO_TEST_CASE(unknown_websocket_path_is_refused_with_404) {
    ChatServer server;
    auto r = server.ws("/ws/nope/");
    BOOST_TEST(!r);
    BOOST_TEST(r.http_status == 404, "got HTTP " << r.http_status << " (" << r.error << ")");
    check_room_works(server, "lobby");
}

BOOST_AUTO_TEST_CASE(pages_are_served_as_html) {
    ChatServer server;
    for (std::string target : {"/chat/", "/chat/lobby/"}) {
        auto res = server.get(target);
        BOOST_TEST(res.status == 200, target << ": HTTP " << res.status << " " << res.error);
        BOOST_TEST(res.content_type.starts_with("text/html"),
                   target << ": content type '" << res.content_type << "'");
        BOOST_TEST(res.body.find("<html") != std::string::npos, target << ": body is not a page");
    }
    auto css = server.get("/static/style.css");
    BOOST_TEST(css.status == 200, "/static/style.css: HTTP " << css.status << " " << css.error);
    BOOST_TEST(css.content_type.starts_with("text/css"),
               "content type '" << css.content_type << "'");
    auto missing = server.get("/static/no-such-file.css");
    BOOST_TEST(missing.status == 404, "missing static file: HTTP " << missing.status);
    auto unknown = server.get("/nothing/here/");
    BOOST_TEST(unknown.status == 404, "unknown page: HTTP " << unknown.status);
}

BOOST_AUTO_TEST_CASE(path_traversal_out_of_the_static_dir_is_404) {
    ChatServer server;
    // apps/chat/CMakeLists.txt really is one level above the static dir.
    std::array<std::string, 9> const targets{
        "/chat/../../etc/passwd",
        "/static/../../../../etc/passwd",
        "/static/../CMakeLists.txt",
        "/static/%2e%2e/CMakeLists.txt",
        "/static/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
        "/static/..%2fCMakeLists.txt",
        "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/static/%2e%2e%5cCMakeLists.txt",
        "/static//etc/passwd",
    };
    for (auto const& target : targets) {
        auto res = server.get(target);
        BOOST_TEST(res.status == 404, target << ": HTTP " << res.status << " " << res.error);
        BOOST_TEST(res.body.find("root:") == std::string::npos, target << " leaked /etc/passwd");
        BOOST_TEST(res.body.find("add_library") == std::string::npos,
                   target << " leaked apps/chat/CMakeLists.txt");
    }
}

BOOST_AUTO_TEST_CASE(invalid_json_affects_only_its_sender) {
    ChatServer server;
    auto bad = join(server, "gamma");
    auto wrong_shape = join(server, "gamma");
    auto good = join(server, "gamma");

    BOOST_REQUIRE(bad->send_text("this is {not json"));
    // Valid JSON of the wrong shape: the chat answers its sender only.
    BOOST_REQUIRE(wrong_shape->send_text(R"({"msg": 1})"));
    auto const error = wrong_shape->read();
    BOOST_TEST((error.kind == Kind::text && error.data.find("error") != std::string::npos),
               "wrong-shape sender got " << error.describe());

    BOOST_REQUIRE_MESSAGE(good->send_text(chat_json("after")), good->last_error());
    // The other members get exactly the next chat message: no error frame leaks to them.
    BOOST_TEST(message_of(good->read()) == "after");
    BOOST_TEST(message_of(wrong_shape->read()) == "after");

    // AsyncJsonWebsocketConsumer's documented answer to invalid JSON: close 1007, that
    // connection only ("after" may come first: it raced with the invalid frame).
    auto f = bad->read();
    while (f.kind == Kind::text) {
        f = bad->read();
    }
    BOOST_TEST(f.kind == Kind::close, "invalid JSON sender got " << f.describe());
    BOOST_TEST(f.close_code == 1007, "invalid JSON sender got " << f.describe());

    // And the room keeps working for the others.
    BOOST_REQUIRE(good->send_text(chat_json("later")));
    BOOST_TEST(message_of(good->read()) == "later");
    BOOST_TEST(message_of(wrong_shape->read()) == "later");
}

BOOST_AUTO_TEST_CASE(room_names_that_cannot_be_groups_are_refused) {
    ChatServer server;
    std::array<std::string, 4> const rooms{
        std::string(120, 'x'), // "chat_" + 120 characters: over the group name limit
        "caf%C3%A9",           // "café": not ASCII
        "two%20words",         // a space
        "semi%3Bcolon",        // ';'
    };
    for (auto const& room : rooms) {
        auto r = server.ws("/ws/chat/" + room + "/");
        if (!r) {
            // Refused at the handshake: must be a clear HTTP answer, not a dropped connection.
            BOOST_TEST_MESSAGE("room '" << room << "': HTTP " << r.http_status);
            BOOST_TEST(r.http_status == 403,
                       "room '" << room << "': HTTP " << r.http_status << " (" << r.error << ")");
        } else {
            // Or accepted and then closed with a code.
            auto f = r.ws->read();
            BOOST_TEST_MESSAGE("room '" << room << "': accepted, then " << f.describe());
            BOOST_TEST(f.kind == Kind::close, "room '" << room << "': " << f.describe());
        }
    }
    check_room_works(server, "valid-room_1.0");
}

BOOST_AUTO_TEST_SUITE_END()
