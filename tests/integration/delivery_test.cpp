// Integration: the delivery guarantee over real sockets. A message accepted into a room
// reaches every member, in order, or that member is closed with a documented code; never
// lost without a word. Bursts (frames written faster than the room can take them), both
// consumer styles, both channel layers; sends issued during the handshake.
#include "chat_app.hpp"

#include "support/redis_server.hpp"
#include "test_server.hpp"

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/consumers/websocket_consumer.hpp>
#include <canal/layers/redis_channel_layer.hpp>
#include <canal/routing/url_router.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace canal::test;

// Sanitizer builds run ~10x slower: the same test, scaled down. The sync style and the
// Redis layer take several times longer than async in memory: fewer frames for them (the
// full 50 x 10,000 burst for every case is canal-bench's burst mode, in benchmarks/run).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int burst_members = 10;
constexpr int burst_frames_fast = 2000;
constexpr int burst_frames_slow = 1000;
#else
constexpr int burst_members = 50;
constexpr int burst_frames_fast = 10000;
constexpr int burst_frames_slow = 3000;
#endif

struct Case {
    chat::ConsumerStyle style;
    bool redis;
    char const* name;
};

std::ostream& operator<<(std::ostream& os, Case const& c) { return os << c.name; }

std::array<Case, 4> const cases{{
    {chat::ConsumerStyle::async, false, "async consumer, in-memory layer"},
    {chat::ConsumerStyle::sync, false, "sync consumer, in-memory layer"},
    {chat::ConsumerStyle::async, true, "async consumer, Redis layer"},
    {chat::ConsumerStyle::sync, true, "sync consumer, Redis layer"},
}};

/** One masked client text frame (mask key 0: the payload goes as is, which RFC 6455 allows). */
void append_client_frame(std::string& out, std::string_view payload) {
    out.push_back(static_cast<char>(0x81));
    auto const n = payload.size();
    if (n < 126) {
        out.push_back(static_cast<char>(0x80 | n));
    } else {
        out.push_back(static_cast<char>(0x80 | 126));
        out.push_back(static_cast<char>((n >> 8) & 0xff));
        out.push_back(static_cast<char>(n & 0xff));
    }
    out.append(4, '\0');
    out.append(payload);
}

/**
 * A client that writes a whole burst with one blocking write while a thread of its own
 * reads (and discards) what the server sends back, as a browser would.
 */
class Burster {
public:
    Burster(unsigned short port, std::string const& target) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        BOOST_REQUIRE(fd_ >= 0);
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        BOOST_REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
                          "Sec-WebSocket-Version: 13\r\n\r\n";
        BOOST_REQUIRE(write_all(req));
        // The response head, byte by byte so no frame after it is swallowed.
        std::string head;
        char c = 0;
        while (head.find("\r\n\r\n") == std::string::npos && ::recv(fd_, &c, 1, 0) == 1) {
            head.push_back(c);
        }
        BOOST_REQUIRE_MESSAGE(head.starts_with("HTTP/1.1 101"), "handshake: " << head);
        drain_ = std::thread([this] {
            std::array<char, 65536> buf{};
            for (;;) {
                auto n = ::recv(fd_, buf.data(), buf.size(), 0);
                if (n <= 0) {
                    break;
                }
                received_ += static_cast<std::size_t>(n);
            }
        });
    }
    ~Burster() {
        ::shutdown(fd_, SHUT_RDWR);
        drain_.join();
        ::close(fd_);
    }
    Burster(Burster const&) = delete;
    Burster& operator=(Burster const&) = delete;

    bool write_all(std::string_view bytes) const {
        while (!bytes.empty()) {
            auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

private:
    int fd_ = -1;
    std::thread drain_;
    std::atomic<std::size_t> received_{0};
};

/** What one member saw of a burst. */
struct Seen {
    int in_order = 0;   // messages 0, 1, 2... received in order
    int close_code = 0; // the server closed the member with this code (0: it did not)
    std::string problem; // out of order, not a chat message, or silence before the end
};

/** Reads until `count` messages arrived in order, a close, or `quiet` passes without a frame. */
Seen read_burst(RawTcp& member, int count, Timeout quiet) {
    Seen seen;
    while (seen.in_order < count) {
        auto f = member.read_frame(quiet);
        if (f.opcode == 9 || f.opcode == 10) {
            continue; // keep-alive pings of a member that only reads
        }
        if (f.opcode == 8) {
            seen.close_code = f.close_code();
            return seen;
        }
        if (f.opcode != 1) {
            seen.problem = f.opcode < 0 ? "silence after message " + std::to_string(seen.in_order)
                                        : "unexpected opcode " + std::to_string(f.opcode);
            return seen;
        }
        auto const v = boost::json::parse(f.payload);
        auto const expected = std::to_string(seen.in_order);
        if (v.at("message").as_string() != expected) {
            seen.problem = "expected message " + expected + ", got " + f.payload;
            return seen;
        }
        ++seen.in_order;
    }
    return seen;
}

/** A server for `c`: the tutorial chat on the in-memory layer or on a fresh redis-server. */
struct DeliveryServer {
    explicit DeliveryServer(Case const& c) {
        auto settings = test_settings();
        if (c.redis) {
            redis.emplace();
            canal::RedisLayerSettings rs;
            rs.hosts = {redis->url()};
            auto layer = std::make_shared<canal::RedisChannelLayer>(rs);
            layer->wait_connected();
            settings.channel_layer = layer;
        }
        // Any origin: these tests are about delivery (chat_test.cpp checks origins).
        std::vector<std::string> any_origin{"*"};
        server.emplace(chat::make_application(CANAL_CHAT_STATIC_DIR, c.style, any_origin),
                       settings);
    }
    std::optional<RedisProcess> redis;
    std::optional<TestServer> server;
};

/** Sends in connect(), right after accept(): the frames must follow the 101, in order. */
class WelcomeAsync : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> connect() override {
        co_await accept();
        co_await send(std::string("welcome"));
        co_await send(std::string("second"));
    }
};

class WelcomeSync : public canal::WebsocketConsumer {
protected:
    void connect() override {
        accept();
        send(std::string("welcome"));
        send(std::string("second"));
    }
};

/** Closes right after accept(): the client gets the 101, then the close frame. */
class AcceptThenClose : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> connect() override {
        co_await accept();
        co_await send(std::string("bye"));
        co_await close(4001, "done");
    }
};

/** Sends 200 x 16 KiB on "fill" and answers every text with its buffered_amount(). */
class Flooder : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> receive(std::string text) override {
        if (text == "fill") {
            auto chunk = std::make_shared<std::string const>(16 * 1024, 'x');
            for (int i = 0; i < 200; ++i) {
                co_await send(chunk);
            }
        }
        co_await send(std::to_string(buffered_amount()));
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(delivery)

BOOST_AUTO_TEST_CASE(buffered_amount_counts_what_the_socket_has_not_taken) {
    canal::URLRouter routes{{canal::path("flood/", canal::as_app<Flooder>())}};
    TestServer server(std::move(routes));
    ConnectOptions slow;
    slow.receive_buffer_size = 4096;
    auto r = server.ws("/flood/", slow);
    BOOST_REQUIRE_MESSAGE(r, r.error);
    BOOST_REQUIRE(r.ws->send_text("fill"));
    for (int i = 0; i < 200; ++i) {
        auto f = r.ws->read();
        BOOST_REQUIRE_MESSAGE(f.kind == WsFrame::Kind::text && f.data.size() == 16 * 1024,
                              "frame " << i << ": " << f.describe());
    }
    // Right after queueing them the 200 frames were all still in the server's queue.
    auto const after_fill = std::stoul(r.ws->read().data);
    BOOST_TEST(after_fill >= 200U * 16 * 1024, "buffered_amount() after fill: " << after_fill);
    // Once the client has read everything, nothing is left (the write completion may come a
    // moment after the client's read: ask again for a bounded time).
    std::size_t now = after_fill;
    for (int attempt = 0; attempt < 50 && now != 0; ++attempt) {
        BOOST_REQUIRE(r.ws->send_text("ask"));
        now = std::stoul(r.ws->read().data);
        if (now != 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    BOOST_TEST(now == 0U);
}

BOOST_AUTO_TEST_CASE(sends_right_after_accept_arrive_in_both_styles) {
    canal::URLRouter routes{{
        canal::path("async/", canal::as_app<WelcomeAsync>()),
        canal::path("sync/", canal::as_app<WelcomeSync>()),
        canal::path("close/", canal::as_app<AcceptThenClose>()),
    }};
    TestServer server(std::move(routes));
    for (std::string const target : {"/async/", "/sync/"}) {
        // Many at once, and one at a time: both lost the first frame before.
        std::vector<std::unique_ptr<WsClient>> clients;
        for (int i = 0; i < 25; ++i) {
            auto r = server.ws(target);
            BOOST_REQUIRE_MESSAGE(r, target << ": " << r.error);
            clients.push_back(std::move(r.ws));
        }
        for (auto& client : clients) {
            auto f = client->read();
            BOOST_TEST(f.data == "welcome", target << ": " << f.describe());
            f = client->read();
            BOOST_TEST(f.data == "second", target << ": " << f.describe());
        }
        for (int i = 0; i < 10; ++i) {
            auto r = server.ws(target);
            BOOST_REQUIRE_MESSAGE(r, target << ": " << r.error);
            BOOST_TEST(r.ws->read().data == "welcome");
        }
    }
    auto r = server.ws("/close/");
    BOOST_REQUIRE_MESSAGE(r, r.error);
    BOOST_TEST(r.ws->read().data == "bye");
    auto f = r.ws->read();
    BOOST_TEST(f.kind == WsFrame::Kind::close, f.describe());
    BOOST_TEST(f.close_code == 4001);
}

BOOST_DATA_TEST_CASE(a_burst_reaches_every_member_in_order_or_the_member_is_told,
                     boost::unit_test::data::make(cases), c) {
    DeliveryServer fixture(c);
    auto& server = *fixture.server;
    int const burst_frames = c.style == chat::ConsumerStyle::async && !c.redis
                                 ? burst_frames_fast
                                 : burst_frames_slow;
    std::string const target = "/ws/chat/burst/";

    std::vector<std::unique_ptr<RawTcp>> members;
    for (int i = 0; i < burst_members; ++i) {
        members.push_back(server.raw());
        BOOST_REQUIRE_EQUAL(members.back()->websocket_handshake(target), 101);
    }
    Burster burster(server.port(), target);

    std::string burst;
    for (int i = 0; i < burst_frames; ++i) {
        append_client_frame(burst, R"({"message":")" + std::to_string(i) + R"("})");
    }
    // Every member reads on a thread of its own while the burst goes out in one write.
    std::vector<Seen> seen(members.size());
    std::vector<std::thread> readers;
    for (std::size_t i = 0; i < members.size(); ++i) {
        readers.emplace_back(
            [&, i] { seen[i] = read_burst(*members[i], burst_frames, Timeout{10000}); });
    }
    auto const start = std::chrono::steady_clock::now();
    BOOST_REQUIRE(burster.write_all(burst));
    for (auto& t : readers) {
        t.join();
    }
    std::chrono::duration<double> const took = std::chrono::steady_clock::now() - start;

    int complete = 0;
    int told = 0;
    for (std::size_t i = 0; i < seen.size(); ++i) {
        auto const& s = seen[i];
        BOOST_TEST(s.problem.empty(), "member " << i << ": " << s.problem);
        if (s.close_code != 0) {
            ++told;
            BOOST_TEST((s.close_code == 1013 || s.close_code == 1008),
                       "member " << i << " closed with " << s.close_code << " after "
                                 << s.in_order << " messages");
        } else if (s.in_order == burst_frames) {
            ++complete;
        }
    }
    BOOST_TEST_MESSAGE(c << ": " << complete << " of " << members.size() << " members got all "
                         << burst_frames << " messages in order, " << told
                         << " were closed with a code, in " << took.count() << " s");
    // Every member reads as fast as it can: backpressure on the sender, not closes, is
    // what the burst should meet.
    BOOST_TEST(complete == burst_members);
}

BOOST_DATA_TEST_CASE(a_redis_stall_is_ridden_out_without_loss_or_duplicates,
                     boost::unit_test::data::make(std::vector<Case>{cases[2], cases[3]}), c) {
    DeliveryServer fixture(c);
    auto& server = *fixture.server;
    constexpr int clients = 5;
    constexpr int per_client = 4;
    std::vector<std::unique_ptr<WsClient>> room;
    for (int i = 0; i < clients; ++i) {
        auto r = server.ws("/ws/chat/stall/");
        BOOST_REQUIRE_MESSAGE(r, r.error);
        room.push_back(std::move(r.ws));
    }
    auto say = [&](int phase) {
        for (int n = 0; n < per_client; ++n) {
            for (int i = 0; i < clients; ++i) {
                auto text = R"({"message":")" + std::to_string(phase) + "/" + std::to_string(i) +
                            "/" + std::to_string(n) + R"("})";
                BOOST_REQUIRE(room[static_cast<std::size_t>(i)]->send_text(text));
            }
        }
    };
    // Every member gets every message of `phase` once, each sender's in its order.
    auto check = [&](int phase) {
        for (int m = 0; m < clients; ++m) {
            std::vector<int> next(clients, 0);
            for (int got = 0; got < clients * per_client; ++got) {
                auto f = room[static_cast<std::size_t>(m)]->read(Timeout{20000});
                BOOST_REQUIRE_MESSAGE(f.kind == WsFrame::Kind::text,
                                      "member " << m << ": " << f.describe());
                auto const text = std::string(boost::json::parse(f.data).at("message").as_string());
                auto const a = text.find('/');
                auto const b = text.find('/', a + 1);
                BOOST_REQUIRE(std::stoi(text.substr(0, a)) == phase);
                auto const from = std::stoi(text.substr(a + 1, b - a - 1));
                auto const n = std::stoi(text.substr(b + 1));
                BOOST_REQUIRE_MESSAGE(n == next[static_cast<std::size_t>(from)],
                                      "member " << m << " got " << text << ", expected message "
                                                << next[static_cast<std::size_t>(from)]
                                                << " of sender " << from);
                ++next[static_cast<std::size_t>(from)];
            }
        }
    };
    say(0);
    check(0);
    // Redis stops answering (SIGSTOP) while everyone keeps chatting: the layer calls wait
    // (command_timeout 15 s) and the senders' reads pause; when Redis is back, everything
    // arrives, once, in order.
    fixture.redis->freeze();
    say(1);
    // Longer than the Redis client's former 5 s command timeout, which failed every sender
    // with 1011 and delivered the stalled message later anyway.
    std::this_thread::sleep_for(std::chrono::seconds(6));
    fixture.redis->thaw();
    check(1);
    for (auto& client : room) {
        auto f = client->read(Timeout{200});
        BOOST_TEST(f.kind == WsFrame::Kind::timeout, "nothing more (no duplicate): " << f.describe());
    }
}

BOOST_AUTO_TEST_SUITE_END()
