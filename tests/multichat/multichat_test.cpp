// Integration: the multichat (apps/chat/multichat_app) over real sockets: login with CSRF,
// sessions, the origin check, and rooms shared by two users.
#include "multichat_app.hpp"

#include "integration/test_server.hpp"
#include "multichat_client.hpp"

#include <canal/middleware/json_file_user_store.hpp>
#include <canal/middleware/session.hpp>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <array>
#include <filesystem>
#include <ostream>
#include <unistd.h>

namespace {

using namespace canal::test;
using boost::json::object;

std::filesystem::path const static_dir = CANAL_CHAT_STATIC_DIR;

/** The users of every test: alice and bob, and the staff user boss. */
std::shared_ptr<canal::JsonFileUserStore> make_users(std::filesystem::path const& file) {
    auto users = std::make_shared<canal::JsonFileUserStore>(file);
    // Few PBKDF2 iterations keep the tests fast; the default is tested in test_middleware.
    users->create_user("alice", "alice-pw", false, 1000);
    users->create_user("bob", "bob-pw", false, 1000);
    users->create_user("boss", "boss-pw", true, 1000);
    return users;
}

std::shared_ptr<chat::RoomList const> make_rooms() {
    auto list = boost::json::parse(R"([
        {"id": 1, "title": "Lobby"},
        {"id": 2, "title": "Random"},
        {"id": 3, "title": "Staff room", "staff_only": true},
        {"id": "ops", "title": "Ops"}
    ])");
    return std::make_shared<chat::RoomList const>(chat::RoomList::from_json(list));
}

struct TempFile {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("canal-multichat-users-" + std::to_string(::getpid()) + "-" +
                                  std::to_string(counter()++) + ".json");
    ~TempFile() {
        std::error_code ec;
        std::filesystem::remove(path, ec);
    }
    static int& counter() {
        static int n = 0;
        return n;
    }
};

/** A consumer style, named in test logs. */
struct Style {
    chat::ConsumerStyle value;
    char const* name;
};

std::ostream& operator<<(std::ostream& os, Style const& style) {
    return os << style.name << " consumer";
}

/** `_0` is MultichatConsumer, `_1` SyncMultichatConsumer. */
std::array<Style, 2> const styles{{
    {chat::ConsumerStyle::async, "async"},
    {chat::ConsumerStyle::sync, "sync"},
}};

canal::Application make_app(std::filesystem::path const& users_file, bool notify,
                            std::shared_ptr<chat::LoginThrottle> throttle, Style style) {
    chat::MultichatOptions options;
    options.users = make_users(users_file);
    options.rooms = make_rooms();
    options.notify_enter_leave = notify;
    options.throttle = std::move(throttle);
    options.style = style.value;
    return chat::make_multichat_application(static_dir, std::move(options),
                                            chat::make_application(static_dir));
}

/** One multichat server per test. */
struct Multichat {
    TempFile users_file;
    TestServer server;
    explicit Multichat(bool notify = true, std::shared_ptr<chat::LoginThrottle> throttle = nullptr,
                       Style style = styles[0])
        : server(make_app(users_file.path, notify, std::move(throttle), style)) {}
    explicit Multichat(Style style, bool notify = true) : Multichat(notify, nullptr, style) {}

    [[nodiscard]] std::string origin() const {
        return "http://127.0.0.1:" + std::to_string(server.port());
    }
};

std::string form_encode(std::vector<std::pair<std::string, std::string>> const& fields) {
    std::string out;
    for (auto const& [k, v] : fields) {
        out += out.empty() ? "" : "&";
        out += k + "=";
        for (unsigned char c : v) {
            if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.') {
                out.push_back(static_cast<char>(c));
            } else {
                char buf[4];
                std::snprintf(buf, sizeof buf, "%%%02X", c);
                out += buf;
            }
        }
    }
    return out;
}

/** The hidden CSRF token of the login form. */
std::string form_token(std::string const& page) {
    std::string const marker = "name=\"csrfmiddlewaretoken\" value=\"";
    auto const at = page.find(marker);
    if (at == std::string::npos) {
        return {};
    }
    auto const start = at + marker.size();
    return page.substr(start, page.find('"', start) - start);
}

/** GET /login/ then POST the form; returns the POST's response. */
FullResponse log_in(Browser& b, std::string const& user, std::string const& password) {
    auto const page = b.get("/login/");
    BOOST_REQUIRE_EQUAL(page.status, 200);
    auto const token = form_token(page.body);
    BOOST_REQUIRE(!token.empty());
    return b.request(
        "POST", "/login/",
        form_encode({{"username", user}, {"password", password}, {"csrfmiddlewaretoken", token}}),
        "application/x-www-form-urlencoded");
}

/** A logged-in user's websocket to /chat/stream/. */
std::unique_ptr<Stream> connect(Multichat const& mc, std::string const& user,
                                std::string const& password) {
    Browser b(mc.server.port());
    auto const res = log_in(b, user, password);
    BOOST_REQUIRE_EQUAL(res.status, 302);
    auto s =
        std::make_unique<Stream>(mc.server.port(), "/chat/stream/", b.cookie_header(), mc.origin());
    BOOST_REQUIRE_EQUAL(s->status(), 101);
    return s;
}

object cmd(std::string const& command, boost::json::value room, std::string const& text = {}) {
    object o;
    o["command"] = command;
    o["room"] = std::move(room);
    if (!text.empty()) {
        o["message"] = text;
    }
    return o;
}

std::string describe(std::optional<object> const& o) {
    return o ? boost::json::serialize(*o) : std::string("<nothing within the deadline>");
}

/** Reads the next message and checks it equals `expected`. */
void expect(Stream& s, object const& expected, char const* who) {
    auto got = s.read();
    BOOST_TEST((got && *got == expected), who << " expected " << boost::json::serialize(expected)
                                              << ", got " << describe(got));
}

object event(int msg_type, boost::json::value room, std::string const& user,
             std::string const& message) {
    object o;
    o["msg_type"] = msg_type;
    o["room"] = std::move(room);
    o["username"] = user;
    o["message"] = message;
    return o;
}

object joined(boost::json::value room, std::string const& title) {
    object o;
    o["join"] = std::move(room);
    o["title"] = title;
    return o;
}

object error(std::string const& code) {
    object o;
    o["error"] = code;
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(login)

BOOST_AUTO_TEST_CASE(login_page_has_a_csrf_cookie_and_a_masked_token) {
    Multichat mc;
    Browser b(mc.server.port());
    auto const page = b.get("/login/");
    BOOST_TEST(page.status == 200);
    BOOST_TEST(page.header("content-type").starts_with("text/html"));
    auto const secret = b.cookie("csrftoken");
    BOOST_REQUIRE(secret.has_value());
    BOOST_TEST(secret->size() == 64U);
    auto const token = form_token(page.body);
    BOOST_TEST(token.size() == 128U);
    BOOST_TEST(token.find(*secret) == std::string::npos); // masked, not the secret itself
    BOOST_TEST(!b.cookie("sessionid").has_value());
}

BOOST_AUTO_TEST_CASE(login_with_csrf_redirects_and_starts_a_session) {
    Multichat mc;
    Browser b(mc.server.port());
    BOOST_TEST(b.get("/multichat/").status == 302); // login required
    auto const res = log_in(b, "alice", "alice-pw");
    BOOST_TEST(res.status == 302);
    BOOST_TEST(res.header("location") == "/multichat/");
    auto const session = b.cookie("sessionid");
    BOOST_REQUIRE(session.has_value());
    BOOST_TEST(canal::Session::is_valid_key(*session));
    bool http_only = false;
    for (auto const& [k, v] : res.headers) {
        if (k == "set-cookie" && v.starts_with("sessionid=")) {
            http_only = v.find("HttpOnly") != std::string::npos &&
                        v.find("SameSite=Lax") != std::string::npos;
        }
    }
    BOOST_TEST(http_only);

    auto const page = b.get("/multichat/");
    BOOST_TEST(page.status == 200);
    BOOST_TEST(page.body.find("/chat/stream/") != std::string::npos);
    auto const state = b.get("/multichat/rooms/");
    BOOST_TEST(state.status == 200);
    auto const json = boost::json::parse(state.body).as_object();
    BOOST_TEST(json.at("username").as_string() == "alice");
    BOOST_TEST(json.at("rooms").as_array().size() == 4U);

    // The tutorial chat is still served next to the multichat.
    BOOST_TEST(b.get("/chat/").status == 200);
}

BOOST_AUTO_TEST_CASE(wrong_password_renders_the_form_and_no_session) {
    Multichat mc;
    Browser b(mc.server.port());
    auto const res = log_in(b, "alice", "not-her-password");
    BOOST_TEST(res.status == 200);
    BOOST_TEST(res.body.find("Please enter a correct username and password.") != std::string::npos);
    BOOST_TEST(!form_token(res.body).empty()); // the form again, ready for another try
    BOOST_TEST(!b.cookie("sessionid").has_value());
    BOOST_TEST(b.get("/multichat/").status == 302);
    auto const unknown = log_in(b, "mallory", "alice-pw");
    BOOST_TEST(unknown.status == 200);
    BOOST_TEST(!b.cookie("sessionid").has_value());
}

BOOST_AUTO_TEST_CASE(missing_or_wrong_csrf_token_is_403) {
    Multichat mc;
    Browser b(mc.server.port());
    auto const page = b.get("/login/");
    auto const token = form_token(page.body);
    auto post = [&](std::string const& body) {
        return b.request("POST", "/login/", body, "application/x-www-form-urlencoded");
    };
    // No token in the form.
    auto r = post(form_encode({{"username", "alice"}, {"password", "alice-pw"}}));
    BOOST_TEST(r.status == 403);
    // A token that does not belong to this cookie.
    auto other = token;
    other[5] = other[5] == 'a' ? 'b' : 'a';
    r = post(form_encode(
        {{"username", "alice"}, {"password", "alice-pw"}, {"csrfmiddlewaretoken", other}}));
    BOOST_TEST(r.status == 403);
    // The right token but no cookie.
    auto const secret = *b.cookie("csrftoken");
    b.forget_cookie("csrftoken");
    r = post(form_encode(
        {{"username", "alice"}, {"password", "alice-pw"}, {"csrfmiddlewaretoken", token}}));
    BOOST_TEST(r.status == 403);
    BOOST_TEST(!b.cookie("sessionid").has_value());
    // And with both, it works.
    b.set_cookie("csrftoken", secret);
    r = post(form_encode(
        {{"username", "alice"}, {"password", "alice-pw"}, {"csrfmiddlewaretoken", token}}));
    BOOST_TEST(r.status == 302);
    BOOST_TEST(b.cookie("sessionid").has_value());
}

BOOST_AUTO_TEST_CASE(failed_logins_are_rate_limited_per_address) {
    auto throttle = std::make_shared<chat::LoginThrottle>(3, std::chrono::minutes(5), 100);
    Multichat mc(true, throttle);
    Browser b(mc.server.port());
    for (int i = 0; i < 3; ++i) {
        BOOST_TEST(log_in(b, "alice", "wrong").status == 200);
    }
    auto const blocked = log_in(b, "alice", "alice-pw"); // even the right password now
    BOOST_TEST(blocked.status == 429);
    BOOST_TEST(blocked.body.find("Too many failed logins") != std::string::npos);
    BOOST_TEST(!b.cookie("sessionid").has_value());
    BOOST_TEST(throttle->size() == 1U);
}

BOOST_AUTO_TEST_CASE(logout_ends_the_session) {
    Multichat mc;
    Browser b(mc.server.port());
    BOOST_REQUIRE_EQUAL(log_in(b, "alice", "alice-pw").status, 302);
    auto const old = *b.cookie("sessionid");
    // Django's LogoutView: not with GET (another site's link or image), nor without the token.
    auto const get = b.get("/logout/");
    BOOST_TEST(get.status == 405);
    BOOST_TEST(get.header("allow") == "POST");
    auto post = [&](std::string const& body) {
        return b.request("POST", "/logout/", body, "application/x-www-form-urlencoded");
    };
    BOOST_TEST(post("").status == 403);
    auto const page = b.get("/multichat/"); // still logged in; the page holds the logout form
    BOOST_REQUIRE_EQUAL(page.status, 200);
    auto const token = form_token(page.body);
    BOOST_REQUIRE(!token.empty());
    auto wrong = token;
    wrong[3] = wrong[3] == 'a' ? 'b' : 'a';
    BOOST_TEST(post(form_encode({{"csrfmiddlewaretoken", wrong}})).status == 403);
    BOOST_TEST(b.get("/multichat/").status == 200);

    auto const out = post(form_encode({{"csrfmiddlewaretoken", token}}));
    BOOST_TEST(out.status == 302);
    BOOST_TEST(out.header("location") == "/login/");
    BOOST_TEST(!b.cookie("sessionid").has_value()); // deleted by the response
    b.set_cookie("sessionid", old);                 // replaying it does not work either
    BOOST_TEST(b.get("/multichat/").status == 302);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(stream)

BOOST_DATA_TEST_CASE(anonymous_websocket_is_refused, styles, style) {
    Multichat mc(style);
    Stream none(mc.server.port(), "/chat/stream/", "", mc.origin());
    BOOST_TEST(none.status() == 403);
    Stream forged(mc.server.port(), "/chat/stream/", "sessionid=" + std::string(64, 'a'),
                  mc.origin());
    BOOST_TEST(forged.status() == 403);
}

BOOST_AUTO_TEST_CASE(refused_origin_is_403) {
    Multichat mc;
    Browser b(mc.server.port());
    BOOST_REQUIRE_EQUAL(log_in(b, "alice", "alice-pw").status, 302);
    Stream evil(mc.server.port(), "/chat/stream/", b.cookie_header(),
                std::string("http://evil.example"));
    BOOST_TEST(evil.status() == 403);
    Stream missing(mc.server.port(), "/chat/stream/", b.cookie_header(), std::nullopt);
    BOOST_TEST(missing.status() == 403);
    Stream good(mc.server.port(), "/chat/stream/", b.cookie_header(), mc.origin());
    BOOST_TEST(good.status() == 101);
    Stream localhost(mc.server.port(), "/chat/stream/", b.cookie_header(),
                     std::string("http://localhost:1234"));
    BOOST_TEST(localhost.status() == 101);
}

BOOST_DATA_TEST_CASE(two_users_in_a_room_see_each_other, styles, style) {
    Multichat mc(style);
    auto alice = connect(mc, "alice", "alice-pw");
    auto bob = connect(mc, "bob", "bob-pw");
    BOOST_REQUIRE(alice->send_json(cmd("join", 1)));
    expect(*alice, joined(1, "Lobby"), "alice");
    BOOST_REQUIRE(bob->send_json(cmd("join", "1"))); // "1" and 1 are the same room
    expect(*bob, joined(1, "Lobby"), "bob");
    expect(*alice, event(4, 1, "bob", "joined the room"), "alice");

    BOOST_REQUIRE(alice->send_json(cmd("send", 1, "hello bob")));
    expect(*alice, event(0, 1, "alice", "hello bob"), "alice");
    expect(*bob, event(0, 1, "alice", "hello bob"), "bob");
    BOOST_REQUIRE(bob->send_json(cmd("send", 1, "hi alice ✓")));
    expect(*bob, event(0, 1, "bob", "hi alice ✓"), "bob");
    expect(*alice, event(0, 1, "bob", "hi alice ✓"), "alice");

    // A room with a string id.
    BOOST_REQUIRE(alice->send_json(cmd("join", "ops")));
    expect(*alice, joined("ops", "Ops"), "alice");
}

BOOST_DATA_TEST_CASE(errors_staff_only_rooms_and_rooms_not_joined, styles, style) {
    Multichat mc(style);
    auto alice = connect(mc, "alice", "alice-pw");
    BOOST_REQUIRE(alice->send_json(cmd("join", 3)));
    expect(*alice, error("ROOM_ACCESS_DENIED"), "alice (staff-only room)");
    BOOST_REQUIRE(alice->send_json(cmd("send", 2, "not joined")));
    expect(*alice, error("ROOM_ACCESS_DENIED"), "alice (room not joined)");
    BOOST_REQUIRE(alice->send_json(cmd("join", 99)));
    expect(*alice, error("ROOM_INVALID"), "alice (no room 99)");
    BOOST_REQUIRE(alice->send_json(cmd("join", boost::json::value(nullptr))));
    expect(*alice, error("ROOM_INVALID"), "alice (null room)");
    object nonsense;
    nonsense["command"] = "dance";
    BOOST_REQUIRE(alice->send_json(nonsense));
    expect(*alice, error("COMMAND_INVALID"), "alice (unknown command)");

    auto boss = connect(mc, "boss", "boss-pw");
    BOOST_REQUIRE(boss->send_json(cmd("join", 3)));
    expect(*boss, joined(3, "Staff room"), "boss");
    BOOST_REQUIRE(boss->send_json(cmd("send", 3, "staff only")));
    expect(*boss, event(0, 3, "boss", "staff only"), "boss");
}

BOOST_DATA_TEST_CASE(leave_stops_delivery, styles, style) {
    Multichat mc(style);
    auto alice = connect(mc, "alice", "alice-pw");
    auto bob = connect(mc, "bob", "bob-pw");
    for (int room : {1, 2}) {
        BOOST_REQUIRE(alice->send_json(cmd("join", room)));
        expect(*alice, joined(room, room == 1 ? "Lobby" : "Random"), "alice");
        BOOST_REQUIRE(bob->send_json(cmd("join", room)));
        expect(*bob, joined(room, room == 1 ? "Lobby" : "Random"), "bob");
        expect(*alice, event(4, room, "bob", "joined the room"), "alice");
    }
    BOOST_REQUIRE(bob->send_json(cmd("leave", 1)));
    object left;
    left["leave"] = 1;
    expect(*bob, left, "bob");
    expect(*alice, event(5, 1, "bob", "left the room"), "alice");
    BOOST_REQUIRE(bob->send_json(cmd("send", 1, "not a member")));
    expect(*bob, error("ROOM_ACCESS_DENIED"), "bob");

    // Room 1 then room 2, in this order: if bob still got room 1, it would come first.
    BOOST_REQUIRE(alice->send_json(cmd("send", 1, "only alice hears this")));
    BOOST_REQUIRE(alice->send_json(cmd("send", 2, "marker")));
    expect(*alice, event(0, 1, "alice", "only alice hears this"), "alice");
    expect(*alice, event(0, 2, "alice", "marker"), "alice");
    expect(*bob, event(0, 2, "alice", "marker"), "bob");
}

BOOST_DATA_TEST_CASE(disconnect_leaves_all_rooms, styles, style) {
    Multichat mc(style);
    auto alice = connect(mc, "alice", "alice-pw");
    auto bob = connect(mc, "bob", "bob-pw");
    for (int room : {1, 2}) {
        BOOST_REQUIRE(bob->send_json(cmd("join", room)));
        expect(*bob, joined(room, room == 1 ? "Lobby" : "Random"), "bob");
        BOOST_REQUIRE(alice->send_json(cmd("join", room)));
        expect(*alice, joined(room, room == 1 ? "Lobby" : "Random"), "alice");
        expect(*bob, event(4, room, "alice", "joined the room"), "bob");
    }
    alice->close();
    // Alice left both rooms (last joined first).
    expect(*bob, event(5, 2, "alice", "left the room"), "bob");
    expect(*bob, event(5, 1, "alice", "left the room"), "bob");
    // Only bob is left in room 1: his message comes back to him alone, and nothing else arrives.
    BOOST_REQUIRE(bob->send_json(cmd("send", 1, "anyone?")));
    expect(*bob, event(0, 1, "bob", "anyone?"), "bob");
    BOOST_TEST(mc.server.layer().dropped_count() == 0U);
}

// {"who": ROOM, "present": {USERNAME: CONNECTIONS}}.
object who(boost::json::value room, std::initializer_list<std::pair<char const*, int>> present) {
    object counts;
    for (auto const& [name, n] : present) {
        counts[name] = n;
    }
    object o;
    o["who"] = std::move(room);
    o["present"] = std::move(counts);
    return o;
}

BOOST_DATA_TEST_CASE(who_is_in_a_room_follows_joins_leaves_and_tabs, styles, style) {
    Multichat mc(style);
    auto alice = connect(mc, "alice", "alice-pw");
    auto bob = connect(mc, "bob", "bob-pw");
    BOOST_REQUIRE(alice->send_json(cmd("who", 1)));
    expect(*alice, error("ROOM_ACCESS_DENIED"), "alice (who before joining)");
    BOOST_REQUIRE(alice->send_json(cmd("who", 99)));
    expect(*alice, error("ROOM_INVALID"), "alice (who in no room)");
    BOOST_REQUIRE(alice->send_json(cmd("join", 1)));
    expect(*alice, joined(1, "Lobby"), "alice");
    BOOST_REQUIRE(alice->send_json(cmd("who", 1)));
    expect(*alice, who(1, {{"alice", 1}}), "alice");
    BOOST_REQUIRE(bob->send_json(cmd("join", 1)));
    expect(*bob, joined(1, "Lobby"), "bob");
    expect(*alice, event(4, 1, "bob", "joined the room"), "alice");
    // bob in a second tab: two connections of his.
    auto bob2 = connect(mc, "bob", "bob-pw");
    BOOST_REQUIRE(bob2->send_json(cmd("join", 1)));
    expect(*bob2, joined(1, "Lobby"), "bob's second tab");
    expect(*alice, event(4, 1, "bob", "joined the room"), "alice");
    expect(*bob, event(4, 1, "bob", "joined the room"), "bob");
    BOOST_REQUIRE(bob2->send_json(cmd("who", 1)));
    expect(*bob2, who(1, {{"alice", 1}, {"bob", 2}}), "bob's second tab");
    // A tab closed without a word is a leave too.
    bob2.reset();
    expect(*alice, event(5, 1, "bob", "left the room"), "alice");
    expect(*bob, event(5, 1, "bob", "left the room"), "bob");
    BOOST_REQUIRE(alice->send_json(cmd("who", 1)));
    expect(*alice, who(1, {{"alice", 1}, {"bob", 1}}), "alice");
}

BOOST_DATA_TEST_CASE(enter_and_leave_notifications_can_be_off, styles, style) {
    Multichat mc(style, false);
    auto alice = connect(mc, "alice", "alice-pw");
    auto bob = connect(mc, "bob", "bob-pw");
    BOOST_REQUIRE(alice->send_json(cmd("join", 1)));
    expect(*alice, joined(1, "Lobby"), "alice");
    BOOST_REQUIRE(bob->send_json(cmd("join", 1)));
    expect(*bob, joined(1, "Lobby"), "bob");
    BOOST_REQUIRE(bob->send_json(cmd("send", 1, "quiet")));
    expect(*alice, event(0, 1, "bob", "quiet"), "alice"); // no enter event before it
}

BOOST_AUTO_TEST_SUITE_END()
