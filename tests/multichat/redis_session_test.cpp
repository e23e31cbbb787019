// RedisSessionStore against a real redis-server, and the multichat with its sessions in Redis:
// log in through one server, open the stream on another.
#include <canal/middleware/redis_session_store.hpp>

#include "multichat_app.hpp"

#include "integration/test_server.hpp"
#include "multichat_client.hpp"
#include "support/redis_server.hpp"

#include <canal/layers/make_channel_layer.hpp>
#include <canal/middleware/json_file_user_store.hpp>
#include <canal/redis/client.hpp>

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <unistd.h>

namespace {

using namespace canal::test;
using namespace std::chrono_literals;

std::filesystem::path const static_dir = CANAL_CHAT_STATIC_DIR;

boost::json::object one(char const* k, char const* v) {
    boost::json::object o;
    o[k] = v;
    return o;
}

canal::awaitable<long long> ttl_of(std::shared_ptr<canal::redis::Client> client, std::string key) {
    canal::redis::Command ttl;
    ttl.emplace_back("TTL");
    ttl.push_back(std::move(key));
    auto reply = co_await client->command(std::move(ttl));
    co_return reply.integer;
}

canal::awaitable<void> put_raw(std::shared_ptr<canal::redis::Client> client, std::string key,
                               std::string value) {
    canal::redis::Command set;
    set.emplace_back("SET");
    set.push_back(std::move(key));
    set.push_back(std::move(value));
    (void)co_await client->command(std::move(set));
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_sessions)

BOOST_AUTO_TEST_CASE(store_saves_loads_expires_and_removes) {
    RedisProcess redis;
    auto client = std::make_shared<canal::redis::Client>(canal::redis::Url::parse(redis.url()));
    canal::RedisSessionStore store(client, "test:session:");
    run_sync(store.save("k1", one("a", "b"), 60s));
    auto loaded = run_sync(store.load("k1"));
    BOOST_REQUIRE(loaded.has_value());
    BOOST_TEST(loaded->at("a").as_string() == "b");
    auto const ttl = run_sync(ttl_of(client, "test:session:k1"));
    BOOST_TEST((ttl > 0 && ttl <= 60), "TTL of the session key: " << ttl);
    BOOST_TEST(!run_sync(store.load("unknown")).has_value());
    run_sync(store.remove("k1"));
    BOOST_TEST(!run_sync(store.load("k1")).has_value());
    // Something else under the prefix is no session.
    run_sync(put_raw(client, "test:session:junk", "not json"));
    BOOST_TEST(!run_sync(store.load("junk")).has_value());
}

BOOST_AUTO_TEST_CASE(unreachable_redis_is_an_error) {
    auto const port = free_loopback_port(); // nothing listens there
    canal::redis::ClientOptions options;
    options.connect_timeout = 500ms;
    auto client = std::make_shared<canal::redis::Client>(
        canal::redis::Url::parse("redis://127.0.0.1:" + std::to_string(port)), options);
    canal::RedisSessionStore store(client);
    BOOST_CHECK_THROW(run_sync(store.load("k")), canal::Error);
}

BOOST_AUTO_TEST_CASE(login_on_one_server_stream_on_another) {
    RedisProcess redis;
    auto const users_file = std::filesystem::temp_directory_path() /
                            ("canal-redis-users-" + std::to_string(::getpid()) + ".json");
    std::filesystem::remove(users_file);
    auto users = std::make_shared<canal::JsonFileUserStore>(users_file);
    users->create_user("alice", "alice-pw", false, 1000);
    auto rooms = std::make_shared<chat::RoomList const>(
        chat::RoomList::from_json(boost::json::parse(R"([{"id": 1, "title": "Lobby"}])")));
    auto make = [&] {
        chat::MultichatOptions options;
        options.users = users;
        options.rooms = rooms;
        auto client = std::make_shared<canal::redis::Client>(canal::redis::Url::parse(redis.url()));
        options.sessions = std::make_shared<canal::RedisSessionStore>(client);
        return chat::make_multichat_application(static_dir, std::move(options),
                                                chat::make_application(static_dir));
    };
    {
        TestServer a(make());
        TestServer b(make());
        Browser browser(a.port());
        auto const page = browser.get("/login/");
        std::string const marker = "name=\"csrfmiddlewaretoken\" value=\"";
        auto const at = page.body.find(marker) + marker.size();
        auto const token = page.body.substr(at, page.body.find('"', at) - at);
        auto const res = browser.request(
            "POST", "/login/", "username=alice&password=alice-pw&csrfmiddlewaretoken=" + token,
            "application/x-www-form-urlencoded");
        BOOST_TEST(res.status == 302);
        BOOST_REQUIRE(browser.cookie("sessionid").has_value());

        // Server b has never seen this client: the session comes from Redis.
        Stream s(b.port(), "/chat/stream/", browser.cookie_header(),
                 "http://127.0.0.1:" + std::to_string(b.port()));
        BOOST_REQUIRE_EQUAL(s.status(), 101);
        boost::json::object join;
        join["command"] = "join";
        join["room"] = 1;
        BOOST_REQUIRE(s.send_json(join));
        auto reply = s.read();
        BOOST_REQUIRE(reply.has_value());
        BOOST_TEST(reply->at("join").as_int64() == 1);
        s.close();
    }
    std::filesystem::remove(users_file);
}

BOOST_AUTO_TEST_CASE(rooms_across_two_servers_on_the_redis_layer) {
    RedisProcess redis;
    auto const users_file = std::filesystem::temp_directory_path() /
                            ("canal-redis-layer-users-" + std::to_string(::getpid()) + ".json");
    std::filesystem::remove(users_file);
    auto users = std::make_shared<canal::JsonFileUserStore>(users_file);
    users->create_user("alice", "alice-pw", false, 1000);
    users->create_user("bob", "bob-pw", false, 1000);
    auto rooms = std::make_shared<chat::RoomList const>(
        chat::RoomList::from_json(boost::json::parse(R"([{"id": 1, "title": "Lobby"}])")));
    auto make = [&] {
        chat::MultichatOptions options;
        options.users = users;
        options.rooms = rooms;
        return chat::make_multichat_application(static_dir, std::move(options),
                                                chat::make_application(static_dir));
    };
    auto settings_for = [&] {
        auto s = test_settings();
        s.channel_layer = canal::make_channel_layer({redis.url()});
        return s;
    };
    {
        // Two servers (as two processes would be), each with its own Redis layer object.
        TestServer a(make(), settings_for());
        TestServer b(make(), settings_for());
        auto login = [](TestServer const& server, std::string const& user,
                        std::string const& password) {
            Browser browser(server.port());
            auto const page = browser.get("/login/");
            std::string const marker = "name=\"csrfmiddlewaretoken\" value=\"";
            auto const at = page.body.find(marker) + marker.size();
            auto const token = page.body.substr(at, page.body.find('"', at) - at);
            auto const res = browser.request("POST", "/login/",
                                             "username=" + user + "&password=" + password +
                                                 "&csrfmiddlewaretoken=" + token,
                                             "application/x-www-form-urlencoded");
            BOOST_REQUIRE_EQUAL(res.status, 302);
            auto s =
                std::make_unique<Stream>(server.port(), "/chat/stream/", browser.cookie_header(),
                                         "http://127.0.0.1:" + std::to_string(server.port()));
            BOOST_REQUIRE_EQUAL(s->status(), 101);
            return s;
        };
        auto alice = login(a, "alice", "alice-pw");
        auto bob = login(b, "bob", "bob-pw");
        boost::json::object join;
        join["command"] = "join";
        join["room"] = 1;
        BOOST_REQUIRE(alice->send_json(join));
        BOOST_TEST(alice->read().value_or(boost::json::object{}).contains("join"));
        BOOST_REQUIRE(bob->send_json(join));
        BOOST_TEST(bob->read().value_or(boost::json::object{}).contains("join"));
        auto enter = alice->read();
        BOOST_REQUIRE(enter.has_value());
        BOOST_TEST(enter->at("msg_type").as_int64() == 4);
        BOOST_TEST(enter->at("username").as_string() == "bob");

        boost::json::object say;
        say["command"] = "send";
        say["room"] = 1;
        say["message"] = "across servers";
        BOOST_REQUIRE(bob->send_json(say));
        for (auto* s : {alice.get(), bob.get()}) {
            auto got = s->read();
            BOOST_REQUIRE(got.has_value());
            BOOST_TEST(got->at("msg_type").as_int64() == 0);
            BOOST_TEST(got->at("username").as_string() == "bob");
            BOOST_TEST(got->at("message").as_string() == "across servers");
        }
        alice->close();
        bob->close();
    }
    std::filesystem::remove(users_file);
}

BOOST_AUTO_TEST_SUITE_END()
