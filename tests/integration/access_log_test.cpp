// The log API and the access log: record formats (text, JSON, escaping), a real server's
// records for HTTP requests and websocket connect/refuse/disconnect, the file writer, a bad
// --access-log path, the level filter and sink hook, and canal-chat's JSON log on stderr.
#include "small_apps.hpp"
#include "test_server.hpp"

#include "support/child_process.hpp"

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/core/log.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>

#include <cstdlib>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace canal::test;
using canal::AccessRecord;
using canal::awaitable;
using canal::LogFormat;

class Hello : public canal::AsyncWebsocketConsumer {
protected:
    awaitable<void> connect() override {
        co_await accept();
        std::string hello = "hello";
        co_await send(std::move(hello));
    }
};

canal::Application app() { return small_app("ws/hello/", canal::as_app<Hello>()); }

// An access record with its strings copied.
struct Seen {
    std::string client, method, path, protocol;
    int status = 0;
    std::int64_t bytes = 0;
    std::chrono::microseconds duration{0};
};

struct Recorder {
    std::mutex mutex;
    std::vector<Seen> seen;
    std::function<void(AccessRecord const&)> sink() {
        return [this](AccessRecord const& r) {
            std::lock_guard lock(mutex);
            seen.push_back({std::string(r.client), std::string(r.method), std::string(r.path),
                            std::string(r.protocol), r.status, r.bytes, r.duration});
        };
    }
    std::vector<Seen> snapshot() {
        std::lock_guard lock(mutex);
        return seen;
    }
    std::optional<Seen> find(std::string const& method) {
        std::lock_guard lock(mutex);
        for (auto const& s : seen) {
            if (s.method == method) {
                return s;
            }
        }
        return std::nullopt;
    }
};

AccessRecord sample() {
    AccessRecord r;
    r.time = std::chrono::system_clock::time_point(std::chrono::seconds(1'764'780'600)); // 2025-12-03T16:50:00Z
    r.client = "127.0.0.1";
    r.method = "GET";
    r.path = "/chat/?room=a";
    r.protocol = "HTTP/1.1";
    r.status = 200;
    r.bytes = 1530;
    r.duration = std::chrono::microseconds(412);
    return r;
}

std::filesystem::path temp_dir() {
    auto dir = std::filesystem::temp_directory_path() /
               ("canal-access-log-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    return dir;
}

} // namespace

BOOST_AUTO_TEST_SUITE(access_log)

BOOST_AUTO_TEST_CASE(text_records_are_the_common_log_format_with_a_duration) {
    BOOST_TEST(canal::format_access_record(sample(), LogFormat::text) ==
               "127.0.0.1 - - [03/Dec/2025:16:50:00 +0000] \"GET /chat/?room=a HTTP/1.1\" 200 1530 0.000412");
    auto ws = sample();
    ws.method = "WSDISCONNECT";
    ws.protocol = "";
    ws.status = 1001;
    ws.bytes = -1;
    ws.duration = std::chrono::microseconds(12'345'678);
    BOOST_TEST(canal::format_access_record(ws, LogFormat::text) ==
               "127.0.0.1 - - [03/Dec/2025:16:50:00 +0000] \"WSDISCONNECT /chat/?room=a\" 1001 - 12.345678");
    // A client's path can neither end the quoted request nor start a line.
    auto forged = sample();
    forged.path = "/a\" 200 1 0.1\n1.2.3.4 - - [x] \"GET /";
    auto const line = canal::format_access_record(forged, LogFormat::text);
    BOOST_TEST(line.find('\n') == std::string::npos);
    BOOST_TEST(line.find("/a\\x22 200 1 0.1\\n1.2.3.4") != std::string::npos, line);
}

BOOST_AUTO_TEST_CASE(json_records_parse_and_keep_their_fields) {
    auto r = sample();
    r.path = std::string_view("/caf\xc3\xa9/\"q\"\x01\xff", 12); // UTF-8, a quote, a control, a stray byte
    auto const line = canal::format_access_record(r, LogFormat::json);
    boost::system::error_code ec;
    auto const v = boost::json::parse(line, ec);
    BOOST_REQUIRE_MESSAGE(!ec, "not JSON: " << line);
    auto const& o = v.as_object();
    BOOST_TEST(o.at("time").as_string() == "2025-12-03T16:50:00.000Z");
    BOOST_TEST(o.at("logger").as_string() == "canal.access");
    BOOST_TEST(o.at("client").as_string() == "127.0.0.1");
    BOOST_TEST(o.at("method").as_string() == "GET");
    BOOST_TEST(o.at("path").as_string() == "/caf\xc3\xa9/\"q\"\x01\xef\xbf\xbd");
    BOOST_TEST(o.at("status").as_int64() == 200);
    BOOST_TEST(o.at("bytes").as_int64() == 1530);
    BOOST_TEST(o.at("duration").as_double() == 0.000412);
    r.bytes = -1;
    auto const ws = boost::json::parse(canal::format_access_record(r, LogFormat::json));
    BOOST_TEST(ws.as_object().at("bytes").is_null());
}

BOOST_AUTO_TEST_CASE(a_server_logs_requests_and_websocket_lifetimes) {
    Recorder recorder;
    auto settings = test_settings();
    settings.access_log_sink = recorder.sink();
    TestServer server{app(), settings};

    auto const quick = server.get("/quick/?x=1");
    BOOST_TEST(quick.status == 200);
    BOOST_TEST(server.get("/nowhere/").status == 404);
    {
        auto conn = server.ws("/ws/hello/");
        BOOST_REQUIRE_MESSAGE(conn, conn.error);
        BOOST_TEST(conn.ws->close(1000));
    }
    BOOST_TEST(server.ws("/ws/no/").http_status == 403);
    {
        // A request the server answers itself (no application): logged with what is known.
        auto raw = server.raw();
        BOOST_REQUIRE(raw->send("NOT HTTP AT ALL\r\n\r\n"));
        std::string got;
        auto const deadline = std::chrono::steady_clock::now() + 5s;
        while (!raw->peer_closed() && std::chrono::steady_clock::now() < deadline) {
            got += raw->read_some(100ms);
        }
        BOOST_TEST(got.rfind("HTTP/1.1 400", 0) == 0U, got);
    }
    BOOST_TEST(eventually([&] { return recorder.find("WSDISCONNECT").has_value(); }, 5s));
    BOOST_TEST(eventually([&] { return recorder.find("-").has_value(); }, 5s));

    auto const seen = recorder.snapshot();
    std::vector<std::string> paths;
    for (auto const& s : seen) {
        paths.push_back(s.method + " " + s.path + " " + std::to_string(s.status));
    }
    auto const has = [&](std::string const& line) {
        return std::find(paths.begin(), paths.end(), line) != paths.end();
    };
    BOOST_TEST(has("GET /quick/?x=1 200"));
    BOOST_TEST(has("GET /nowhere/ 404"));
    BOOST_TEST(has("WSCONNECT /ws/hello/ 101"));
    BOOST_TEST(has("WSDISCONNECT /ws/hello/ 1000"));
    BOOST_TEST(has("WSREJECT /ws/no/ 403"));
    BOOST_TEST(has("- - 400"));
    for (auto const& s : seen) {
        BOOST_TEST(s.client == "127.0.0.1");
        if (s.method == "GET" && s.status == 200) {
            BOOST_TEST(s.bytes == 6); // "quick\n"
            BOOST_TEST(s.protocol == "HTTP/1.1");
        }
        if (s.method.starts_with("WS")) {
            BOOST_TEST(s.bytes == -1);
            BOOST_TEST(s.protocol.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(the_access_log_file_gets_every_line_by_the_time_the_server_stopped) {
    auto const dir = temp_dir();
    auto const file = dir / "access.log";
    std::filesystem::remove(file);
    auto settings = test_settings();
    settings.access_log = file.string();
    {
        TestServer server{app(), settings};
        for (int i = 0; i < 20; ++i) {
            BOOST_TEST(server.get("/quick/").status == 200);
        }
    }
    std::ifstream in(file);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
        ++lines;
        BOOST_TEST(line.starts_with("127.0.0.1 - - ["), line);
        BOOST_TEST(line.find("\"GET /quick/ HTTP/1.1\" 200 6 ") != std::string::npos, line);
    }
    BOOST_TEST(lines == 20);
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(an_access_log_that_cannot_be_opened_names_the_flag) {
    auto settings = test_settings();
    settings.access_log = "/nonexistent-dir/access.log";
    canal::Server server(app(), settings);
    try {
        server.start();
        BOOST_FAIL("start() accepted an access log in a missing directory");
    } catch (canal::InvalidSetting const& e) {
        std::string const what = e.what();
        BOOST_TEST(what.find("--access-log") != std::string::npos, what);
        BOOST_TEST(what.find("/nonexistent-dir/access.log") != std::string::npos, what);
    }
}

BOOST_AUTO_TEST_CASE(the_sink_gets_lines_at_or_above_the_level) {
    std::vector<std::string> got;
    canal::set_log_sink([&](canal::LogRecord const& r) {
        got.push_back(std::string(canal::to_string(r.level)) + " " + std::string(r.logger) +
                      " " + std::string(r.message));
    });
    canal::set_log_level(canal::LogLevel::warning);
    canal::log(canal::LogLevel::info, "skipped");
    canal::log(canal::LogLevel::warning, "kept\nsafe");
    canal::log(canal::LogLevel::error, "also kept");
    canal::set_log_level(canal::LogLevel::info);
    canal::set_log_sink({});
    BOOST_TEST(got.size() == 2U);
    BOOST_TEST(got.at(0) == "WARNING canal kept\\nsafe");
    BOOST_TEST(got.at(1) == "ERROR canal also kept");
    BOOST_TEST((canal::parse_log_level("Warning") == canal::LogLevel::warning));
    BOOST_TEST(!canal::parse_log_level("loud").has_value());
}

BOOST_AUTO_TEST_CASE(canal_chat_logs_json_lines_with_its_access_log) {
    ChildProcess chat({CANAL_CHAT_EXE, "--host", "127.0.0.1", "--port", "0", "--threads", "1",
                       "--log-format", "json", "--access-log"},
                      true);
    std::string const prefix = "canal: listening on http://127.0.0.1:";
    auto line = chat.line_containing(prefix, 10s);
    BOOST_REQUIRE_MESSAGE(line, "canal-chat did not listen: " << chat.output());
    auto const port = static_cast<unsigned short>(std::stoi(line->substr(prefix.size())));
    BOOST_TEST(http_get("127.0.0.1", port, "/chat/").status == 200);
    ConnectOptions same_site;
    same_site.origin = "http://127.0.0.1:" + std::to_string(port);
    {
        auto conn = ws_connect("127.0.0.1", port, "/ws/chat/lobby/", same_site);
        BOOST_REQUIRE_MESSAGE(conn, conn.error);
        BOOST_TEST(conn.ws->close(1000));
    }
    BOOST_REQUIRE(chat.signal(SIGTERM));
    BOOST_REQUIRE(chat.wait_exit(10s));

    int access = 0;
    int logged = 0;
    std::istringstream out(chat.output());
    std::string l;
    while (std::getline(out, l)) {
        if (l.starts_with("canal: listening on")) {
            continue; // the start-up line on stdout
        }
        boost::system::error_code ec;
        auto const v = boost::json::parse(l, ec);
        BOOST_TEST(!ec, "not a JSON line: " << l);
        if (ec || !v.is_object()) {
            continue;
        }
        auto const& o = v.as_object();
        if (o.at("logger").as_string() == "canal.access") {
            ++access;
        } else {
            ++logged; // "received SIGTERM, closing connections" at least
            BOOST_TEST(o.contains("level"));
            BOOST_TEST(o.contains("message"));
        }
    }
    BOOST_TEST(access >= 3, chat.output()); // GET /chat/, WSCONNECT, WSDISCONNECT
    BOOST_TEST(logged >= 1, chat.output());
}

BOOST_AUTO_TEST_CASE(flags_also_come_from_the_environment_and_the_command_line_wins) {
    // CANAL_LOG_FORMAT sets --log-format, as CANAL_SESSIONS would set --sessions.
    ::setenv("CANAL_LOG_FORMAT", "json", 1);
    ::setenv("CANAL_LOG_LEVEL", "loud", 1);
    auto const run = [](std::vector<std::string> extra) {
        std::vector<std::string> argv{CANAL_CHAT_EXE, "--host", "127.0.0.1", "--port", "0"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        ChildProcess chat(argv, true);
        BOOST_REQUIRE(chat.line_containing("canal: listening on", 10s));
        BOOST_REQUIRE(chat.signal(SIGTERM));
        BOOST_REQUIRE(chat.wait_exit(10s));
        return chat.output();
    };
    auto const from_environment = run({"--log-level", "info"});
    auto const from_flag = run({"--log-level", "info", "--log-format", "text"});
    ChildProcess bad({CANAL_CHAT_EXE, "--port", "0"}, true); // CANAL_LOG_LEVEL=loud
    auto const bad_status = bad.wait_exit(10s);
    ::unsetenv("CANAL_LOG_FORMAT");
    ::unsetenv("CANAL_LOG_LEVEL");
    BOOST_TEST(from_environment.find("{\"time\":") != std::string::npos, from_environment);
    BOOST_TEST(from_flag.find("{\"time\":") == std::string::npos, from_flag);
    BOOST_TEST(from_flag.find(" canal INFO received SIGTERM") != std::string::npos, from_flag);
    BOOST_REQUIRE(bad_status);
    BOOST_TEST((WIFEXITED(*bad_status) && WEXITSTATUS(*bad_status) == 2), bad.output());
    BOOST_TEST(bad.output().find("--log-level") != std::string::npos, bad.output());
}

BOOST_AUTO_TEST_CASE(bad_log_flags_and_stray_arguments_are_refused_with_status_2) {
    for (auto const& args : std::vector<std::vector<std::string>>{
             {"--log-level", "loud"}, {"--log-format", "xml"}, {"stray"}}) {
        std::vector<std::string> argv{CANAL_CHAT_EXE, "--port", "0"};
        argv.insert(argv.end(), args.begin(), args.end());
        ChildProcess chat(argv, true);
        auto status = chat.wait_exit(10s);
        BOOST_REQUIRE(status);
        BOOST_TEST((WIFEXITED(*status) && WEXITSTATUS(*status) == 2), chat.output());
        BOOST_TEST(chat.output().find(args.at(0)) != std::string::npos, chat.output());
    }
}

BOOST_AUTO_TEST_SUITE_END()
