// The metrics listener (Settings::metrics, --metrics): the counters a real server keeps for
// HTTP requests and websockets, Prometheus' format checked by `promtool check metrics`,
// /health following a real redis-server that goes away and comes back, and bad addresses.
#include "small_apps.hpp"
#include "test_server.hpp"

#include "support/redis_server.hpp"

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/layers/redis_channel_layer.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>

namespace {

using namespace canal::test;
using canal::awaitable;

// Echoes each text message, and sends it to the "room" group (whose copy it relays too).
class Echo : public canal::AsyncWebsocketConsumer {
public:
    Echo() {
        groups.emplace_back("room");
        on("room.message", &Echo::room_message);
    }

protected:
    awaitable<void> receive(std::string text) override {
        co_await send(std::string(text));
        canal::Message m{{"type", "room.message"}, {"text", text}};
        std::string group = "room";
        co_await channel_layer().group_send(std::move(group), std::move(m));
    }
    awaitable<void> room_message(canal::Message const& message) {
        co_await send(std::string(message.at("text").as_string()));
    }
};

canal::Application app() { return small_app("ws/echo/", canal::as_app<Echo>()); }

canal::Settings metrics_settings() {
    auto s = test_settings();
    s.metrics = "127.0.0.1:0";
    return s;
}

// `name{labels} value` lines of an exposition, by `name{labels}`.
std::map<std::string, double> samples(std::string const& text) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line.front() == '#') {
            continue;
        }
        auto const space = line.rfind(' ');
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

double sample(TestServer& server, std::string const& key) {
    auto const got = samples(http_get("127.0.0.1", server.server().metrics_port(), "/metrics").body);
    auto const it = got.find(key);
    return it == got.end() ? -1 : it->second;
}

} // namespace

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(a_server_counts_requests_handshakes_messages_and_closes) {
    TestServer server{app(), metrics_settings()};
    BOOST_REQUIRE(server.server().metrics_port() != 0);
    BOOST_REQUIRE(server.server().metrics_port() != server.port());

    BOOST_TEST(server.get("/quick/").status == 200);
    BOOST_TEST(server.get("/nowhere/").status == 404);
    BOOST_TEST(server.ws("/ws/no/").http_status == 403);
    {
        auto conn = server.ws("/ws/echo/");
        BOOST_REQUIRE_MESSAGE(conn, conn.error);
        for (int i = 0; i < 3; ++i) {
            BOOST_REQUIRE(conn.ws->send_text("hi"));
            BOOST_TEST(conn.ws->read().data == "hi"); // the echo
            BOOST_TEST(conn.ws->read().data == "hi"); // the group's copy
        }
        BOOST_TEST(sample(server, "canal_websockets_open") == 1);
        BOOST_TEST(conn.ws->close(1000));
    }
    BOOST_TEST(eventually([&] { return sample(server, "canal_websockets_open") == 0; }, 5s));

    auto const m = samples(server.server().metrics_text());
    BOOST_TEST(m.at("canal_http_responses_total{code=\"2xx\"}") == 1);
    BOOST_TEST(m.at("canal_http_responses_total{code=\"4xx\"}") == 2); // 404, 403
    BOOST_TEST(m.at("canal_http_responses_total{code=\"1xx\"}") == 1); // the 101
    BOOST_TEST(m.at("canal_websocket_handshakes_total{outcome=\"accepted\"}") == 1);
    BOOST_TEST(m.at("canal_websocket_handshakes_total{outcome=\"refused\"}") == 1);
    BOOST_TEST(m.at("canal_websocket_messages_received_total") == 3);
    BOOST_TEST(m.at("canal_websocket_received_bytes_total") == 6);
    BOOST_TEST(m.at("canal_websocket_messages_sent_total") == 6);
    BOOST_TEST(m.at("canal_websocket_closes_total{code=\"1000\"}") == 1);
    BOOST_TEST(m.at("canal_outbound_queued_bytes") == 0);
    BOOST_TEST(m.at("canal_connections_accepted_total") >= 4);
    BOOST_TEST(m.at("canal_layer_up{layer=\"default\"}") == 1);
    BOOST_TEST(m.at("canal_layer_group_send_duration_seconds_count{layer=\"default\"}") == 3);
    BOOST_TEST(m.at("canal_layer_group_send_duration_seconds_bucket{layer=\"default\",le=\"+Inf\"}") == 3);
    BOOST_TEST(m.at("canal_handler_pool_queued_tasks") == 0);
}

BOOST_AUTO_TEST_CASE(promtool_accepts_the_exposition) {
    TestServer server{app(), metrics_settings()};
    BOOST_TEST(server.get("/quick/").status == 200);
    auto const got = http_get("127.0.0.1", server.server().metrics_port(), "/metrics");
    BOOST_TEST(got.status == 200);
    BOOST_TEST(got.content_type == "text/plain; version=0.0.4; charset=utf-8");
    auto const file = std::filesystem::temp_directory_path() /
                      ("canal-metrics-" + std::to_string(::getpid()) + ".txt");
    std::ofstream(file) << got.body;
    std::string const command = "promtool check metrics < " + file.string() + " 2>&1";
    std::string output;
    FILE* p = ::popen(command.c_str(), "r");
    BOOST_REQUIRE(p != nullptr);
    std::array<char, 512> chunk{};
    while (std::fgets(chunk.data(), chunk.size(), p) != nullptr) {
        output += chunk.data();
    }
    int const status = ::pclose(p);
    std::filesystem::remove(file);
    BOOST_TEST(status == 0, "promtool check metrics (scripts/setup installs prometheus): " << output);
}

BOOST_AUTO_TEST_CASE(the_listener_answers_only_metrics_and_health) {
    TestServer server{app(), metrics_settings()};
    auto const port = server.server().metrics_port();
    auto const health = http_get("127.0.0.1", port, "/health");
    BOOST_TEST(health.status == 200);
    BOOST_TEST(health.body == "ok\n");
    BOOST_TEST(http_get("127.0.0.1", port, "/quick/").status == 404);
    // The application's address does not serve the metrics.
    BOOST_TEST(server.get("/metrics").status == 404);
    auto raw = std::make_unique<RawTcp>("127.0.0.1", port);
    BOOST_REQUIRE(raw->send("POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
    std::string got;
    auto const deadline = std::chrono::steady_clock::now() + 5s;
    while (!raw->peer_closed() && std::chrono::steady_clock::now() < deadline) {
        got += raw->read_some(100ms);
    }
    BOOST_TEST(got.rfind("HTTP/1.1 405", 0) == 0U, got);
}

BOOST_AUTO_TEST_CASE(health_fails_while_redis_is_down_and_recovers) {
    RedisProcess redis;
    canal::RedisLayerSettings rs;
    rs.hosts = {redis.url()};
    rs.connect_timeout = 500ms;
    auto layer = std::make_shared<canal::RedisChannelLayer>(rs);
    layer->wait_connected();
    auto settings = metrics_settings();
    settings.channel_layer = layer;
    TestServer server{app(), settings};
    auto const port = server.server().metrics_port();
    BOOST_TEST(http_get("127.0.0.1", port, "/health").status == 200);

    redis.stop();
    // The layer notices at its next request (or the receive loop's): make one.
    BOOST_TEST(eventually([&] {
        try {
            canal::Message m{{"type", "x"}};
            run_sync(layer->group_send("room", std::move(m)));
        } catch (std::exception const&) {
        }
        return http_get("127.0.0.1", port, "/health").status == 503;
    }, 10s));
    auto const down = http_get("127.0.0.1", port, "/health");
    BOOST_TEST(down.body.find("cannot reach redis://127.0.0.1:" + std::to_string(redis.port())) !=
                   std::string::npos,
               down.body);
    BOOST_TEST(sample(server, "canal_layer_up{layer=\"default\"}") == 0);
    BOOST_TEST(sample(server, "canal_layer_errors_total{layer=\"default\"}") >= 1);

    redis.start();
    BOOST_TEST(eventually([&] { return http_get("127.0.0.1", port, "/health").status == 200; }, 15s));
    BOOST_TEST(sample(server, "canal_layer_reconnects_total{layer=\"default\"}") >= 1);
    BOOST_TEST(sample(server, "canal_layer_round_trips_total{layer=\"default\"}") >= 1);
}

BOOST_AUTO_TEST_CASE(a_bad_metrics_address_names_the_flag) {
    for (std::string bad : {"9100", "localhost:9100", "127.0.0.1:", "127.0.0.1:70000", "::1:9100"}) {
        auto settings = test_settings();
        settings.metrics = bad;
        canal::Server server(app(), settings);
        try {
            server.start();
            BOOST_ERROR("start() accepted --metrics " << bad);
        } catch (canal::InvalidSetting const& e) {
            BOOST_TEST(std::string(e.what()).find("--metrics") != std::string::npos, e.what());
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
