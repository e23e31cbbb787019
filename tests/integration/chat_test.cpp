// Integration: the tutorial room chat (apps/chat) served by an in-process canal::Server, with
// each consumer test run against both consumer styles (ChatConsumer and SyncChatConsumer).
#include "chat_app.hpp"

#include "test_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>

namespace {

using namespace canal::test;
using Kind = WsFrame::Kind;

/** A consumer style of the chat, named in test logs and failure messages. */
struct Style {
    chat::ConsumerStyle value;
    char const* name;
};

std::ostream& operator<<(std::ostream& os, Style const& style) {
    return os << style.name << " consumer";
}

/** The data of the data-driven cases: `_0` is the async ChatConsumer, `_1` SyncChatConsumer. */
std::array<Style, 2> const styles{{
    {chat::ConsumerStyle::async, "async"},
    {chat::ConsumerStyle::sync, "sync"},
}};

/** The chat server of one test. */
struct ChatServer : TestServer {
    explicit ChatServer(Style style = styles[0], canal::Settings settings = test_settings())
        : TestServer(chat::make_application(CANAL_CHAT_STATIC_DIR, style.value),
                     std::move(settings)) {}
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

/**
 * `options` with the Origin of the chat's own pages, as a browser sends it: the websocket
 * routes are behind AllowedHostsOriginValidator (localhost by default).
 */
ConnectOptions same_site(TestServer const& server, ConnectOptions options = {}) {
    if (!options.origin) {
        options.origin = "http://127.0.0.1:" + std::to_string(server.port());
    }
    return options;
}

std::unique_ptr<WsClient> join(TestServer const& server, std::string const& room,
                               ConnectOptions const& options = {}) {
    auto r = server.ws("/ws/chat/" + room + "/", same_site(server, options));
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

/** A 4 KiB chat text carrying its sequence number. */
std::string numbered_text(int seq) {
    char head[16];
    std::snprintf(head, sizeof head, "seq:%06d|", seq);
    std::string s = head;
    s.resize(4096, 'x');
    return s;
}

/** The sequence number of a numbered_text() chat frame; -1 for anything else. */
int seq_of(WsFrame const& f) {
    auto const text = message_of(f);
    if (!text.starts_with("seq:") || text.size() < 10) {
        return -1;
    }
    return std::stoi(text.substr(4, 6));
}

/** The whole text of a file (empty when it cannot be read). */
std::string read_file(std::filesystem::path const& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

} // namespace

BOOST_AUTO_TEST_SUITE(chat)

BOOST_DATA_TEST_CASE(members_of_a_room_receive_every_message_in_order,
                     boost::unit_test::data::make(styles), style) {
    ChatServer server{style};
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

BOOST_DATA_TEST_CASE(unknown_websocket_path_is_refused_with_404,
                     boost::unit_test::data::make(styles), style) {
    ChatServer server{style};
    auto r = server.ws("/ws/nope/", same_site(server));
    BOOST_TEST(!r);
    BOOST_TEST(r.http_status == 404, "got HTTP " << r.http_status << " (" << r.error << ")");
    check_room_works(server, "lobby");
}

BOOST_DATA_TEST_CASE(websockets_from_other_sites_are_refused_with_403,
                     boost::unit_test::data::make(styles), style) {
    // The tutorial's AllowedHostsOriginValidator: by default only localhost pages.
    ChatServer server{style};
    ConnectOptions foreign;
    foreign.origin = "http://evil.example";
    auto r = server.ws("/ws/chat/lobby/", foreign);
    BOOST_TEST(!r);
    BOOST_TEST(r.http_status == 403, "foreign origin: HTTP " << r.http_status << " " << r.error);
    auto none = server.ws("/ws/chat/lobby/");
    BOOST_TEST(!none);
    BOOST_TEST(none.http_status == 403, "no origin: HTTP " << none.http_status << " " << none.error);
    ConnectOptions localhost;
    localhost.origin = "http://localhost:" + std::to_string(server.port());
    auto ok = server.ws("/ws/chat/lobby/", localhost);
    BOOST_TEST(static_cast<bool>(ok), "localhost origin: " << ok.error << " HTTP " << ok.http_status);

    // --allowed-hosts replaces the default.
    TestServer custom{chat::make_application(CANAL_CHAT_STATIC_DIR, style.value,
                                             std::vector<std::string>{".example.com"})};
    ConnectOptions sub;
    sub.origin = "https://chat.example.com";
    BOOST_TEST(static_cast<bool>(custom.ws("/ws/chat/lobby/", sub)));
    ConnectOptions local;
    local.origin = "http://127.0.0.1:" + std::to_string(custom.port());
    BOOST_TEST(custom.ws("/ws/chat/lobby/", local).http_status == 403);
}

// The HTTP routes of make_application() do not depend on the consumer style: one run each.
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

BOOST_DATA_TEST_CASE(invalid_json_affects_only_its_sender, boost::unit_test::data::make(styles),
                     style) {
    ChatServer server{style};
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

    // The JSON consumers' documented answer to invalid JSON (both styles): close 1007, that
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

BOOST_DATA_TEST_CASE(room_names_that_cannot_be_groups_are_refused,
                     boost::unit_test::data::make(styles), style) {
    ChatServer server{style};
    std::array<std::string, 4> const rooms{
        std::string(120, 'x'), // "chat_" + 120 characters: over the group name limit
        "caf%C3%A9",           // "café": not ASCII
        "two%20words",         // a space
        "semi%3Bcolon",        // ';'
    };
    for (auto const& room : rooms) {
        auto r = server.ws("/ws/chat/" + room + "/", same_site(server));
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

BOOST_DATA_TEST_CASE(slow_member_is_closed_with_1008_and_the_room_goes_on,
                     boost::unit_test::data::make(styles), style) {
    auto settings = test_settings();
    settings.outbound_queue_limit = 64;
    // The slow member reads only after the others got everything (seconds under the
    // sanitizers): its close frame must still be waiting then, not cut by the close deadline.
    settings.handshake_timeout = std::chrono::seconds(60);
    settings.overflow_policy = canal::OverflowPolicy::close;
    ChatServer server{style, settings};

    ConnectOptions slow_options;
    slow_options.receive_buffer_size = 4096; // no kernel autotuning: the backlog reaches canal
    auto slow = join(server, "flood", slow_options);
    auto fast = join(server, "flood");
    auto sender = join(server, "flood");

    // The sender is a member too (the tutorial echoes to the sender), so it reads everything
    // as `fast` does, and sends at most `window` messages ahead of them.
    constexpr int count = 5000; // 20 MB for each member: far more than the socket buffers hold
    constexpr int window = 16;
    int sent = 0;
    int got = 0;
    auto const start = std::chrono::steady_clock::now();
    while (got < count) {
        while (sent < count && sent - got < window) {
            BOOST_REQUIRE_MESSAGE(sender->send_text(chat_json(numbered_text(sent))),
                                  "send " << sent << ": " << sender->last_error());
            ++sent;
        }
        for (auto* reader : {fast.get(), sender.get()}) {
            auto const f = reader->read();
            BOOST_REQUIRE_MESSAGE(
                seq_of(f) == got,
                (reader == fast.get() ? "fast member" : "sender")
                    << " expected message " << got << ", got "
                    << (seq_of(f) >= 0 ? "message " + std::to_string(seq_of(f)) : f.describe()));
        }
        ++got;
    }
    auto const elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
    BOOST_TEST_MESSAGE("the fast members got " << count << " x 4 KiB in " << elapsed.count()
                                               << " s");
    BOOST_TEST(elapsed.count() < 30.0);

    // The slow member now reads what was buffered (in order), then the close 1008.
    int data = 0;
    int last = -1;
    WsFrame f;
    for (;;) {
        f = slow->read();
        if (f.kind != Kind::text) {
            break;
        }
        int const seq = seq_of(f);
        BOOST_REQUIRE_MESSAGE(seq > last, "slow member: message " << seq << " after " << last);
        last = seq;
        ++data;
    }
    BOOST_TEST_MESSAGE("the slow member read " << data << " messages, then " << f.describe());
    BOOST_TEST(f.kind == Kind::close, "slow member got " << f.describe());
    BOOST_TEST(f.close_code == 1008, "slow member got " << f.describe());
    BOOST_TEST(data < count);

    // The room goes on for the others.
    BOOST_REQUIRE_MESSAGE(sender->send_text(chat_json("after the flood")), sender->last_error());
    BOOST_TEST(message_of(fast->read()) == "after the flood");
    BOOST_TEST(message_of(sender->read()) == "after the flood");
    check_room_works(server, "flood");
}

BOOST_AUTO_TEST_CASE(sync_and_async_members_share_a_room_through_the_layer) {
    // Two servers on one layer, as two processes on one Redis layer would be: one serves the
    // room with ChatConsumer, the other with SyncChatConsumer.
    auto settings = test_settings();
    settings.channel_layer = std::make_shared<canal::InMemoryChannelLayer>();
    ChatServer async_server{styles[0], settings};
    ChatServer sync_server{styles[1], settings};
    auto async_member = join(async_server, "mixed");
    auto sync_member = join(sync_server, "mixed");

    for (int i = 0; i < 20; ++i) {
        bool const from_async = i % 2 == 0;
        auto const text =
            std::string(from_async ? "from async " : "from sync ") + std::to_string(i);
        auto& from = from_async ? *async_member : *sync_member;
        BOOST_REQUIRE_MESSAGE(from.send_text(chat_json(text)), from.last_error());
        BOOST_TEST(message_of(async_member->read()) == text, "async member, message " << i);
        BOOST_TEST(message_of(sync_member->read()) == text, "sync member, message " << i);
    }
}

BOOST_AUTO_TEST_CASE(docs_quote_the_chat_consumers_verbatim) {
    // docs/consumers.md presents the chat consumers as compiled code: the ```cpp block after
    // each `<!-- quoted from FILE -->` line must appear, as is, in FILE (source-tree relative).
    auto const root =
        std::filesystem::path(CANAL_CHAT_STATIC_DIR).parent_path().parent_path().parent_path();
    auto const doc = read_file(root / "docs" / "consumers.md");
    BOOST_REQUIRE_MESSAGE(!doc.empty(), "cannot read docs/consumers.md under " << root);

    std::string const marker = "<!-- quoted from ";
    std::string const fence = "```cpp\n";
    int quotes = 0;
    for (auto pos = doc.find(marker); pos != std::string::npos; pos = doc.find(marker, pos + 1)) {
        auto const name_begin = pos + marker.size();
        auto const name_end = doc.find(" -->\n", name_begin);
        BOOST_REQUIRE_MESSAGE(name_end != std::string::npos,
                              "docs/consumers.md: unterminated marker at offset " << pos);
        auto const file = doc.substr(name_begin, name_end - name_begin);
        auto const open = name_end + 5;
        BOOST_REQUIRE_MESSAGE(doc.compare(open, fence.size(), fence) == 0,
                              "docs/consumers.md: the marker for " << file
                                                                   << " is not followed by "
                                                                      "a ```cpp block");
        auto const body = open + fence.size();
        auto const close = doc.find("\n```\n", body);
        BOOST_REQUIRE_MESSAGE(close != std::string::npos,
                              "docs/consumers.md: unterminated block quoted from " << file);
        auto const block = doc.substr(body, close + 1 - body);
        auto const source = read_file(root / file);
        BOOST_TEST(!source.empty(), "docs/consumers.md quotes " << file << ", which is unreadable");
        BOOST_TEST(source.find(block) != std::string::npos,
                   "docs/consumers.md: this block is not in " << file << " as is:\n"
                                                              << block);
        ++quotes;
    }
    BOOST_TEST(quotes >= 2, "docs/consumers.md has " << quotes
                                                     << " quoted blocks, expected the "
                                                        "async and the sync chat consumer");
}

BOOST_AUTO_TEST_SUITE_END()
