// RedisChannelLayer with symmetric_encryption_keys against a real channels_redis layer with
// the same keys (tests/redis/channels_redis_peer.py, Debian's /usr/bin/python3): send,
// receive and group_send in both directions, and a wrong key refused on both sides.
#include <canal/layers/redis_channel_layer.hpp>

#include "support/async_run.hpp"
#include "support/child_process.hpp"
#include "support/redis_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using canal::Message;
using canal::RedisChannelLayer;
using canal::RedisLayerSettings;
using canal::test::ChildProcess;
using canal::test::numbered;
using canal::test::RedisProcess;
using canal::test::run_sync;

constexpr int skipped = 77;

std::string const key_json = R"(["interop key, as Django's SECRET_KEY"])";
std::string const key = "interop key, as Django's SECRET_KEY";

RedisLayerSettings encrypted(std::string const& url) {
    RedisLayerSettings s;
    s.hosts = {url};
    s.receive_poll = 200ms;
    s.symmetric_encryption_keys = {key};
    return s;
}

/** The peer script as a child process: python3 SCRIPT URL KEYS op args... */
std::vector<std::string> peer_args(std::string const& url, std::string const& keys,
                                   std::vector<std::string> op) {
    std::vector<std::string> args{"/usr/bin/python3", CANAL_CHANNELS_REDIS_PEER, url, keys};
    args.insert(args.end(), op.begin(), op.end());
    return args;
}

/** Runs the peer to its end: its exit status and output. */
std::pair<int, std::string> run_peer(std::string const& url, std::string const& keys,
                                     std::vector<std::string> op) {
    ChildProcess peer(peer_args(url, keys, std::move(op)), true);
    auto const status = peer.wait_exit(20s);
    BOOST_REQUIRE_MESSAGE(status, "channels_redis_peer.py still running: " << peer.output());
    return {WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, peer.output()};
}

/** The JSON object on the last line of `output`. */
boost::json::value last_json_line(std::string const& output) {
    auto end = output.find_last_not_of('\n');
    auto const start = output.rfind('\n', end);
    auto const line = output.substr(start == std::string::npos ? 0 : start + 1,
                                    end == std::string::npos ? 0 : end + 1 - (start + 1));
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    BOOST_TEST(!ec, "not JSON: '" << line << "' in output " << output);
    return v;
}

bool channels_redis_missing(int status, std::string const& output) {
    if (status == skipped) {
        BOOST_TEST_MESSAGE("skipped: " << output);
        return true;
    }
    return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(channels_redis_encryption)

BOOST_AUTO_TEST_CASE(canal_sends_and_channels_redis_receives) {
    RedisProcess server;
    RedisChannelLayer layer(encrypted(server.url()));
    layer.wait_connected();
    run_sync(layer.send("py_inbox", numbered("from.canal", 1)));
    auto const [status, output] = run_peer(server.url(), key_json, {"receive", "py_inbox"});
    if (channels_redis_missing(status, output)) {
        return;
    }
    BOOST_TEST(status == 0, output);
    BOOST_TEST(last_json_line(output) == boost::json::parse(R"({"type": "from.canal", "n": 1})"),
               output);

    // With another key, channels_redis refuses it (cryptography's InvalidToken).
    run_sync(layer.send("py_inbox", numbered("from.canal", 2)));
    auto const [wrong_status, wrong_output] =
        run_peer(server.url(), R"(["another key"])", {"receive", "py_inbox"});
    BOOST_TEST(wrong_status == 1, wrong_output);
    BOOST_TEST(wrong_output.find("InvalidToken") != std::string::npos, wrong_output);
}

BOOST_AUTO_TEST_CASE(channels_redis_sends_and_canal_receives) {
    RedisProcess server;
    RedisChannelLayer layer(encrypted(server.url()));
    layer.wait_connected();
    auto const channel = run_sync(layer.new_channel());
    run_sync(layer.group_add("room", channel));
    auto const [status, output] =
        run_peer(server.url(), key_json,
                 {"send", channel, R"({"type": "from.django", "n": 1, "text": "h\u00e9"})"});
    if (channels_redis_missing(status, output)) {
        return;
    }
    BOOST_TEST(status == 0, output);
    auto const got = run_sync(layer.receive(channel));
    BOOST_TEST(got.type() == "from.django");
    BOOST_TEST(got.at("text").as_string() == "h\xc3\xa9");

    auto const [group_status, group_output] = run_peer(
        server.url(), key_json, {"group_send", "room", R"({"type": "from.django", "n": 2})"});
    BOOST_TEST(group_status == 0, group_output);
    BOOST_TEST(run_sync(layer.receive(channel)).at("n").as_int64() == 2);

    // A named channel, popped by receive() itself.
    auto const [named_status, named_output] =
        run_peer(server.url(), key_json, {"send", "jobs", R"({"type": "job", "n": 3})"});
    BOOST_TEST(named_status == 0, named_output);
    BOOST_TEST(run_sync(layer.receive("jobs")).at("n").as_int64() == 3);
    BOOST_TEST(layer.stats().undecryptable == 0u);

    // Another key: dropped and counted; the next good message still arrives.
    auto const [wrong_status, wrong_output] = run_peer(
        server.url(), R"(["another key"])", {"group_send", "room", R"({"type": "x", "n": 4})"});
    BOOST_TEST(wrong_status == 0, wrong_output);
    auto const [last_status, last_output] =
        run_peer(server.url(), key_json, {"send", channel, R"({"type": "x", "n": 5})"});
    BOOST_TEST(last_status == 0, last_output);
    BOOST_TEST(run_sync(layer.receive(channel)).at("n").as_int64() == 5);
    BOOST_TEST(layer.stats().undecryptable == 1u);
}

BOOST_AUTO_TEST_CASE(canal_group_sends_to_a_channels_redis_member) {
    RedisProcess server;
    RedisChannelLayer layer(encrypted(server.url()));
    layer.wait_connected();
    auto const mine = run_sync(layer.new_channel());
    run_sync(layer.group_add("room", mine));
    ChildProcess peer(peer_args(server.url(), key_json, {"new_channel_in", "room"}), true);
    auto const name = peer.line_containing("specific.", 10s);
    if (!name) {
        auto const status = peer.wait_exit(10s);
        if (status && WIFEXITED(*status) &&
            channels_redis_missing(WEXITSTATUS(*status), peer.output())) {
            return;
        }
        BOOST_FAIL("channels_redis did not join the group: " << peer.output());
    }
    run_sync(layer.group_send("room", numbered("from.canal", 7)));
    auto const status = peer.wait_exit(20s);
    BOOST_REQUIRE(status);
    BOOST_TEST((WIFEXITED(*status) && WEXITSTATUS(*status) == 0), peer.output());
    BOOST_TEST(last_json_line(peer.output()) ==
                   boost::json::parse(R"({"type": "from.canal", "n": 7})"),
               peer.output());
    BOOST_TEST(run_sync(layer.receive(mine)).at("n").as_int64() == 7);
}

BOOST_AUTO_TEST_SUITE_END()
