// Settings: every number has a range. Settings::validate() names the setting, its flag and the
// range; canal-chat refuses a flag outside its range with exit status 2; canal::run refuses
// settings made in code with status 2 before listening.
#include <canal/server/settings.hpp>

#include "support/async_run.hpp"
#include "support/child_process.hpp"

#include <canal/server/server.hpp>

#include <boost/test/unit_test.hpp>

#include <canal/layers/make_channel_layer.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <utility>
#include <string>
#include <vector>

namespace {

using namespace canal::test;
using namespace std::chrono_literals;

/** The message of the InvalidSetting that validate() throws, or "" when it does not throw. */
std::string invalid(std::function<void(canal::Settings&)> const& change) {
    canal::Settings s;
    change(s);
    try {
        s.validate();
    } catch (canal::InvalidSetting const& e) {
        return e.what();
    }
    return "";
}

/** canal-chat's exit status and output for `args`, within 10 s. */
std::pair<int, std::string> run_chat(std::vector<std::string> args) {
    args.insert(args.begin(), CANAL_CHAT_EXE);
    ChildProcess chat(std::move(args), true);
    auto status = chat.wait_exit(10s);
    BOOST_REQUIRE_MESSAGE(status, "canal-chat still running after 10 s: " << chat.output());
    BOOST_REQUIRE_MESSAGE(WIFEXITED(*status), describe_status(*status));
    return {WEXITSTATUS(*status), chat.output()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(settings)

BOOST_AUTO_TEST_CASE(defaults_and_bounds_are_valid) {
    BOOST_TEST(invalid([](auto&) {}) == "");
    BOOST_TEST(invalid([](auto& s) { s.max_message_size = 1; }) == "");
    BOOST_TEST(invalid([](auto& s) { s.max_message_size = 1024ULL * 1024 * 1024; }) == "");
    BOOST_TEST(invalid([](auto& s) { s.threads = 1024; }) == "");
    BOOST_TEST(invalid([](auto& s) { s.max_connections = 1000000; }) == "");
    BOOST_TEST(invalid([](auto& s) { s.shutdown_timeout = 0ms; }) == "");
}

BOOST_AUTO_TEST_CASE(out_of_range_settings_name_the_setting_the_flag_and_the_range) {
    BOOST_TEST(invalid([](auto& s) { s.max_message_size = 0; }) ==
               "Settings::max_message_size (--max-message-size) must be in the range "
               "1..1073741824 bytes, not '0'");
    BOOST_TEST(invalid([](auto& s) { s.max_message_size = 1024ULL * 1024 * 1024 + 1; }) ==
               "Settings::max_message_size (--max-message-size) must be in the range "
               "1..1073741824 bytes, not '1073741825'");
    BOOST_TEST(invalid([](auto& s) { s.outbound_queue_limit = 0; }) ==
               "Settings::outbound_queue_limit (--outbound-queue) must be in the range "
               "1..1000000 messages, not '0'");
    BOOST_TEST(invalid([](auto& s) { s.threads = static_cast<unsigned>(-1); }) ==
               "Settings::threads (--threads) must be in the range 0..1024, not '4294967295'");
    BOOST_TEST(invalid([](auto& s) { s.handler_threads = 1025; }) ==
               "Settings::handler_threads (--handler-threads) must be in the range 0..1024, "
               "not '1025'");
    BOOST_TEST(invalid([](auto& s) { s.max_connections_per_client = 1000001; }) ==
               "Settings::max_connections_per_client (--max-connections-per-client) must be in "
               "the range 0..1000000, not '1000001'");
    BOOST_TEST(invalid([](auto& s) { s.ping_interval = -1ms; }) ==
               "Settings::ping_interval (--ping-interval) must be in the range 1..86400000 ms, "
               "not '-1'");
    BOOST_TEST(invalid([](auto& s) { s.handshake_timeout = 0ms; }) ==
               "Settings::handshake_timeout (--websocket-connect-timeout) must be in the range "
               "1..3600000 ms, not '0'");
    BOOST_TEST(invalid([](auto& s) { s.max_body_size = 0; }) ==
               "Settings::max_body_size must be in the range 1..1073741824 bytes, not '0'");
    BOOST_TEST(invalid([](auto& s) { s.host.clear(); }).find("Settings::host (--host)") == 0U);
}

BOOST_AUTO_TEST_CASE(from_args_reads_the_numbers_and_the_connection_limits) {
    std::vector<std::string> args{"canal",  "--max-message-size",          "1009",
                                  "--threads", "3",                         "--max-connections",
                                  "500",    "--max-connections-per-client", "20"};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    auto s = canal::Settings::from_args(static_cast<int>(argv.size()), argv.data());
    BOOST_TEST(s.max_message_size == 1009U);
    BOOST_TEST(s.threads == 3U);
    BOOST_TEST(s.max_connections == 500U);
    BOOST_TEST(s.max_connections_per_client == 20U);
    BOOST_TEST(canal::Settings{}.max_connections == 0U); // unlimited by default
    BOOST_TEST(canal::Settings{}.max_connections_per_client == 0U);
}

BOOST_AUTO_TEST_CASE(the_layer_flags_reach_the_layer_canal_run_builds) {
    std::vector<std::string> args{"canal",          "--layer-capacity",     "2",
                                  "--layer-expiry", "7",                    "--layer-group-expiry",
                                  "9",              "--layer-prefix",       "site_b",
                                  "--layer-channel-capacity", "one.*=1",
                                  "--layer-channel-capacity", "o*=3"};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    auto s = canal::Settings::from_args(static_cast<int>(argv.size()), argv.data());
    BOOST_TEST(s.layer_prefix == "site_b");
    auto const l = s.layer_settings();
    BOOST_TEST(l.capacity == 2U);
    BOOST_TEST((l.expiry == 7s));
    BOOST_TEST((l.group_expiry == 9s));
    // The in-memory layer built from them holds two messages per channel, not 100.
    auto layer = canal::make_channel_layer(s.layer, l, s.layer_prefix);
    auto const send_one = [&] {
        boost::json::object obj;
        obj["type"] = "t";
        return run_sync(layer->send("c", canal::Message(std::move(obj))));
    };
    send_one();
    send_one();
    BOOST_CHECK_THROW(send_one(), canal::ChannelFull);
    BOOST_TEST(l.channel_capacity.size() == 2U);
    // --layer-channel-capacity: "one.x" matches the first pattern (one message), "other"
    // the second (three), "c" none (--layer-capacity, two).
    auto const fill = [&](std::string const& channel) {
        for (int n = 0;; ++n) {
            boost::json::object obj;
            obj["type"] = "t";
            try {
                run_sync(layer->send(channel, canal::Message(std::move(obj))));
            } catch (canal::ChannelFull const&) {
                return n;
            }
        }
    };
    BOOST_TEST(fill("one.x") == 1);
    BOOST_TEST(fill("other") == 3);
    BOOST_TEST(invalid([](canal::Settings& x) { x.layer_prefix = "two words"; })
                   .find("--layer-prefix") != std::string::npos);
    BOOST_TEST(invalid([](canal::Settings& x) { x.layer_prefix.clear(); }) != "");
}

BOOST_AUTO_TEST_CASE(the_layer_urls_come_from_canal_layer_when_no_flag_names_them) {
    std::vector<std::string> args{"canal"};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    ::setenv("CANAL_LAYER", " redis://:secret@10.0.0.5:6379/2, redis://10.0.0.6:6379 ", 1);
    auto s = canal::Settings::from_args(static_cast<int>(argv.size()), argv.data());
    std::vector<std::string> const expected{"redis://:secret@10.0.0.5:6379/2",
                                            "redis://10.0.0.6:6379"};
    BOOST_TEST(s.layer == expected, boost::test_tools::per_element());
    // A flag wins over the environment.
    std::vector<std::string> flagged{"canal", "--layer", "memory"};
    std::vector<char*> argv2;
    for (auto& a : flagged) {
        argv2.push_back(a.data());
    }
    auto t = canal::Settings::from_args(static_cast<int>(argv2.size()), argv2.data());
    BOOST_TEST(t.layer == std::vector<std::string>{"memory"}, boost::test_tools::per_element());
    ::unsetenv("CANAL_LAYER");
    auto u = canal::Settings::from_args(static_cast<int>(argv.size()), argv.data());
    BOOST_TEST(u.layer.empty());
}

BOOST_AUTO_TEST_CASE(flags_outside_their_range_exit_with_status_2_naming_flag_and_range) {
    struct Case {
        std::string flag;
        std::string value;
        std::string range;
    };
    std::vector<Case> const cases{
        {"--max-message-size", "0", "1..1073741824 bytes"},
        {"--max-message-size", "-5", "1..1073741824 bytes"},
        {"--outbound-queue", "-1", "1..1000000 messages"},
        {"--outbound-queue-bytes", "0", "1..1073741824 bytes"},
        {"--threads", "-1", "0..1024"},
        {"--threads", "99999999999999999999999", "0..1024"},
        {"--handler-threads", "-1", "0..1024"},
        {"--port", "65536", "0..65535"},
        {"--max-connections", "-1", "0..1000000"},
        {"--max-connections-per-client", "ten", "0..1000000"},
        {"--layer-capacity", "0", "1..1000000 messages"},
        {"--layer-expiry", "0", "1..604800 s"},
    };
    for (std::string const bad : {"room", "=5", "room=", "room=0", "room=x", "room=1000001"}) {
        auto const [status, output] = run_chat({"--layer-channel-capacity", bad, "--port", "0"});
        BOOST_TEST(status == 2, bad << ": exit " << status << ": " << output);
        BOOST_TEST(output.find("--layer-channel-capacity '" + bad + "' is not GLOB=N") !=
                       std::string::npos,
                   output);
    }
    for (auto const& c : cases) {
        std::vector<std::string> args{c.flag, c.value};
        if (c.flag != "--port") {
            args.insert(args.end(), {"--port", "0"}); // should the check ever let it start
        }
        auto const [status, output] = run_chat(args);
        BOOST_TEST(status == 2, c.flag << " " << c.value << ": exit " << status << ": " << output);
        auto const expected =
            c.flag + " must be in the range " + c.range + ", not '" + c.value + "'";
        BOOST_TEST(output.find(expected) != std::string::npos,
                   c.flag << " " << c.value << ": expected '" << expected << "' in: " << output);
    }
}

BOOST_AUTO_TEST_CASE(layer_aliases_are_read_checked_and_built_by_canal_run) {
    std::vector<std::string> args{"canal", "--layer-alias", "side=memory", "--layer-alias",
                                  "far=redis://10.0.0.1:6379,redis://10.0.0.2:6379"};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    auto s = canal::Settings::from_args(static_cast<int>(argv.size()), argv.data());
    BOOST_REQUIRE(s.layer_aliases.size() == 2U);
    BOOST_TEST(s.layer_aliases[0].first == "side");
    BOOST_TEST(s.layer_aliases[0].second == std::vector<std::string>{"memory"});
    BOOST_TEST(s.layer_aliases[1].second.size() == 2U);
    for (std::string const bad : {"side", "=memory", "side=", "side=,"}) {
        auto const [status, output] = run_chat({"--layer-alias", bad, "--port", "0"});
        BOOST_TEST(status == 2, bad << ": exit " << status << ": " << output);
        BOOST_TEST(output.find("--layer-alias '" + bad + "' is not ALIAS=URL") != std::string::npos,
                   output);
    }
    for (std::string const bad : {"default=memory", "two words=memory"}) {
        auto const [status, output] = run_chat({"--layer-alias", bad, "--port", "0"});
        BOOST_TEST(status == 2, bad << ": exit " << status << ": " << output);
        BOOST_TEST(output.find("is invalid: use ASCII letters") != std::string::npos, output);
    }
    auto const [twice, twice_output] =
        run_chat({"--layer-alias", "a=memory", "--layer-alias", "a=memory", "--port", "0"});
    BOOST_TEST(twice == 2, twice_output);
    BOOST_TEST(twice_output.find("--layer-alias names 'a' twice") != std::string::npos,
               twice_output);
    // canal::run builds each alias: one it cannot build stops start-up, naming it.
    auto const [status, output] =
        run_chat({"--layer-alias", "side=redis://127.0.0.1:1", "--port", "0"});
    BOOST_TEST(status == 1, output);
    BOOST_TEST(output.find("layer alias 'side': ") != std::string::npos, output);
}

BOOST_AUTO_TEST_CASE(proxy_flags_are_read_and_bad_ones_refused) {
    std::vector<std::string> args{"canal", "--proxy-headers", "--trusted-proxies",
                                  "10.0.0.0/8,127.0.0.1", "--trusted-proxies", "::1",
                                  "--root-path", "/chat"};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    auto s = canal::Settings::from_args(static_cast<int>(argv.size()), argv.data());
    BOOST_TEST(s.proxy_headers);
    BOOST_TEST(s.trusted_proxies == (std::vector<std::string>{"10.0.0.0/8", "127.0.0.1", "::1"}));
    BOOST_TEST(s.root_path == "/chat");
    BOOST_TEST(!canal::Settings{}.proxy_headers);
    auto const [status, output] = run_chat({"--trusted-proxies", "10.0.0.0/40", "--port", "0"});
    BOOST_TEST(status == 2, output);
    BOOST_TEST(output.find("--trusted-proxies: '10.0.0.0/40' is not an IP address or a CIDR "
                           "block") != std::string::npos,
               output);
    for (std::string const bad : {"chat", "/chat/"}) {
        auto const [root_status, root_output] = run_chat({"--root-path", bad, "--port", "0"});
        BOOST_TEST(root_status == 2, root_output);
        BOOST_TEST(root_output.find("--root-path") != std::string::npos, root_output);
    }
}

BOOST_AUTO_TEST_CASE(the_layer_encryption_keys_come_from_a_file) {
    auto const dir =
        std::filesystem::temp_directory_path() / ("canal-keys-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto const write = [&](std::string const& name, std::string const& text) {
        auto const path = (dir / name).string();
        std::ofstream(path, std::ios::binary) << text;
        return path;
    };
    auto const keys = write("keys", "\nnew secret\r\n\n  \nold # secret\n");
    std::vector<std::string> args{"canal", "--layer", "redis://127.0.0.1:1",
                                  "--layer-encryption-keys-file", keys};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    auto const s = canal::Settings::from_args(static_cast<int>(argv.size()), argv.data());
    std::vector<std::string> const expected{"new secret", "old # secret"};
    BOOST_TEST(s.layer_encryption_keys == expected, boost::test_tools::per_element());
    BOOST_TEST(canal::Settings{}.layer_encryption_keys.empty());

    // Unreadable, empty, a directory, or without a Redis layer: status 2 and why.
    struct Case {
        std::vector<std::string> args;
        std::string expected;
    };
    auto const missing = (dir / "missing").string();
    auto const blank = write("blank", "\n  \n\r\n");
    auto const empty = write("empty", "");
    std::vector<Case> const cases{
        {{"--layer-encryption-keys-file", missing, "--layer", "redis://127.0.0.1:1"},
         "--layer-encryption-keys-file '" + missing +
             "' cannot be read: No such file or directory"},
        {{"--layer-encryption-keys-file", blank, "--layer", "redis://127.0.0.1:1"},
         "--layer-encryption-keys-file '" + blank + "' holds no key"},
        {{"--layer-encryption-keys-file", empty, "--layer", "redis://127.0.0.1:1"},
         "--layer-encryption-keys-file '" + empty + "' holds no key"},
        {{"--layer-encryption-keys-file", dir.string(), "--layer", "redis://127.0.0.1:1"},
         "--layer-encryption-keys-file '" + dir.string() + "' is a directory"},
        {{"--layer-encryption-keys-file", keys},
         "(--layer-encryption-keys-file) encrypt the Redis layer's messages: give --layer"},
        {{"--layer-encryption-keys-file"}, "--layer-encryption-keys-file"},
    };
    for (auto const& c : cases) {
        auto args2 = c.args;
        args2.insert(args2.end(), {"--port", "0"}); // should the check ever let it start
        auto const [status, output] = run_chat(args2);
        BOOST_TEST(status == 2, c.expected << ": exit " << status << ": " << output);
        BOOST_TEST(output.find(c.expected) != std::string::npos,
                   "expected '" << c.expected << "' in: " << output);
    }
    std::filesystem::remove_all(dir);

    BOOST_TEST(invalid([](auto& x) {
                   x.layer = {"redis://127.0.0.1:1"};
                   x.layer_encryption_keys = {"k", ""};
               }).find("empty key") != std::string::npos);
    BOOST_TEST(invalid([](auto& x) {
                   x.layer_encryption_keys = {"k"};
               }).find("Settings::layer_encryption_keys") == 0U);
    BOOST_TEST(invalid([](auto& x) {
                   x.layer = {"redis://127.0.0.1:1"};
                   x.layer_encryption_keys = {"k"};
               }) == "");
    // make_channel_layer() refuses keys for the in-memory layer too.
    std::vector<std::string> const memory{"memory"};
    std::vector<std::string> const one_key{"k"};
    BOOST_CHECK_THROW(canal::make_channel_layer(memory, {}, "asgi", one_key),
                      std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(help_shows_the_ranges) {
    auto [status, output] = run_chat({"--help"});
    BOOST_TEST(status == 0);
    BOOST_TEST(output.find("--max-message-size") != std::string::npos, output);
    BOOST_TEST(output.find("[1..1073741824") != std::string::npos, output);
    BOOST_TEST(output.find("--max-connections-per-client") != std::string::npos, output);
}

BOOST_AUTO_TEST_CASE(run_refuses_invalid_settings_with_status_2) {
    canal::Settings s;
    s.port = 0;
    s.outbound_queue_limit = 0;
    canal::Application app = [](canal::Scope, canal::Receive, canal::Send) -> canal::awaitable<void> {
        co_return;
    };
    // Returns at once: the server never starts, so there is no signal to wait for.
    BOOST_TEST(canal::run(std::move(app), s) == 2);
}

BOOST_AUTO_TEST_SUITE_END()
