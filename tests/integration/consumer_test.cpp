// Integration: AsyncWebsocketConsumer's handshake answers, subprotocols, handler errors and
// disconnects, observed from a real client over loopback.
#include "test_server.hpp"

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>

#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

using namespace canal::test;
using Kind = WsFrame::Kind;

class EchoConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> receive(std::string text) override { co_await send(std::move(text)); }
    canal::awaitable<void> receive_bytes(std::string bytes) override {
        co_await send_bytes(std::move(bytes));
    }
};

class DenyConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> connect() override {
        throw canal::DenyConnection("not you");
        co_return;
    }
};

class CloseInConnectConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> connect() override { co_await close(); }
};

/** Accepts with the first subprotocol the client offered (none if it offered none). */
class SubprotocolConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> connect() override {
        auto const& offered = scope().subprotocols;
        std::string chosen = offered.empty() ? std::string{} : offered.front();
        co_await accept(std::move(chosen));
    }
    canal::awaitable<void> receive(std::string text) override { co_await send(std::move(text)); }
};

/** Joins group "doomed", answers "test.ping" layer messages, and throws on any client message. */
class ThrowingConsumer : public canal::AsyncWebsocketConsumer {
public:
    explicit ThrowingConsumer(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) {
        groups.emplace_back("doomed");
        on("test.ping", &ThrowingConsumer::ping);
    }
    ~ThrowingConsumer() override { probe_->record("destroyed"); }
    ThrowingConsumer(ThrowingConsumer const&) = delete;
    ThrowingConsumer& operator=(ThrowingConsumer const&) = delete;

protected:
    canal::awaitable<void> receive(std::string /*text*/) override {
        throw std::runtime_error("deliberate failure in ThrowingConsumer::receive");
        co_return;
    }
    canal::awaitable<void> disconnect(int code) override {
        probe_->record("disconnect", code);
        co_return;
    }
    canal::awaitable<void> ping(canal::Message const& /*message*/) {
        probe_->record("pinged");
        co_return;
    }

private:
    std::shared_ptr<Probe> probe_;
};

/** Reports connect and disconnect (with its code). */
class WatchedConsumer : public canal::AsyncWebsocketConsumer {
public:
    explicit WatchedConsumer(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) {}
    ~WatchedConsumer() override { probe_->record("destroyed"); }
    WatchedConsumer(WatchedConsumer const&) = delete;
    WatchedConsumer& operator=(WatchedConsumer const&) = delete;

protected:
    canal::awaitable<void> connect() override {
        co_await accept();
        probe_->record("connected");
    }
    canal::awaitable<void> disconnect(int code) override {
        probe_->record("disconnect", code);
        co_return;
    }

private:
    std::shared_ptr<Probe> probe_;
};

canal::Application consumer_app(std::shared_ptr<Probe> const& probe) {
    canal::URLRouter ws{{
        canal::path("ws/echo/", canal::as_app<EchoConsumer>()),
        canal::path("ws/deny/", canal::as_app<DenyConsumer>()),
        canal::path("ws/close-in-connect/", canal::as_app<CloseInConnectConsumer>()),
        canal::path("ws/subprotocol/", canal::as_app<SubprotocolConsumer>()),
        canal::path("ws/throw/", canal::as_app<ThrowingConsumer>(probe)),
        canal::path("ws/watched/", canal::as_app<WatchedConsumer>(probe)),
    }};
    std::map<std::string, canal::Application, std::less<>> apps;
    apps.emplace("websocket", std::move(ws));
    return canal::ProtocolTypeRouter{std::move(apps)};
}

/** Checks that /ws/echo/ still answers: the server lives on. */
void check_echo_works(TestServer const& server) {
    auto r = server.ws("/ws/echo/");
    BOOST_REQUIRE_MESSAGE(r, "echo after the failure: " << r.error << " (HTTP " << r.http_status
                                                        << ")");
    BOOST_REQUIRE(r.ws->send_text("ping"));
    auto f = r.ws->read();
    BOOST_TEST((f.kind == Kind::text && f.data == "ping"), "echo got " << f.describe());
}

} // namespace

BOOST_AUTO_TEST_SUITE(consumers)

BOOST_AUTO_TEST_CASE(deny_connection_in_connect_is_http_403) {
    auto probe = std::make_shared<Probe>();
    TestServer server{consumer_app(probe)};
    auto r = server.ws("/ws/deny/");
    BOOST_TEST(!r);
    BOOST_TEST(r.http_status == 403, "got HTTP " << r.http_status << " (" << r.error << ")");
    check_echo_works(server);
}

BOOST_AUTO_TEST_CASE(close_in_connect_is_http_403) {
    auto probe = std::make_shared<Probe>();
    TestServer server{consumer_app(probe)};
    auto r = server.ws("/ws/close-in-connect/");
    BOOST_TEST(!r);
    BOOST_TEST(r.http_status == 403, "got HTTP " << r.http_status << " (" << r.error << ")");
    check_echo_works(server);
}

BOOST_AUTO_TEST_CASE(accepted_subprotocol_is_in_the_handshake_response) {
    auto probe = std::make_shared<Probe>();
    TestServer server{consumer_app(probe)};
    ConnectOptions options;
    options.subprotocols = {"chat.v2", "chat.v1"};
    auto r = server.ws("/ws/subprotocol/", options);
    BOOST_REQUIRE_MESSAGE(r, r.error << " (HTTP " << r.http_status << ")");
    BOOST_TEST(r.subprotocol == "chat.v2");
    BOOST_REQUIRE(r.ws->send_text("works"));
    BOOST_TEST(r.ws->read().data == "works");

    // Offering none: the response names none.
    auto plain = server.ws("/ws/subprotocol/");
    BOOST_REQUIRE_MESSAGE(plain, plain.error << " (HTTP " << plain.http_status << ")");
    BOOST_TEST(plain.subprotocol.empty(), "unexpected subprotocol '" << plain.subprotocol << "'");
}

BOOST_AUTO_TEST_CASE(handler_exception_closes_1011_and_leaves_groups) {
    auto probe = std::make_shared<Probe>();
    auto settings = test_settings();
    canal::LayerSettings layer_settings;
    layer_settings.capacity = 1; // a second message to an unread member is dropped and counted
    auto layer = std::make_shared<canal::InMemoryChannelLayer>(layer_settings);
    settings.channel_layer = layer;
    TestServer server{consumer_app(probe), settings};

    auto ping = [] {
        canal::Message m{{"type", "test.ping"}};
        return m;
    };
    // The observation works: a member nobody reads makes the second group_send count a drop.
    auto const control = run_sync(layer->new_channel("control"));
    run_sync(layer->group_add("control", control));
    auto const before_control = layer->dropped_count();
    run_sync(layer->group_send("control", ping()));
    run_sync(layer->group_send("control", ping()));
    BOOST_REQUIRE_EQUAL(layer->dropped_count(), before_control + 1);

    auto r = server.ws("/ws/throw/");
    BOOST_REQUIRE_MESSAGE(r, r.error << " (HTTP " << r.http_status << ")");
    // It is in the group while it lives.
    run_sync(layer->group_send("doomed", ping()));
    BOOST_REQUIRE_MESSAGE(probe->wait_for("pinged"), "the consumer never got the group message");

    BOOST_REQUIRE(r.ws->send_text("make it throw"));
    auto f = r.ws->read();
    BOOST_TEST(f.kind == Kind::close, "client got " << f.describe());
    BOOST_TEST(f.close_code == 1011, "client got " << f.describe());

    auto const disconnect_code = probe->wait_for("disconnect");
    BOOST_TEST(disconnect_code.has_value(), "disconnect() did not run: " << probe->history());
    BOOST_TEST(disconnect_code.value_or(0) == 1011, "events: " << probe->history());
    BOOST_REQUIRE_MESSAGE(probe->wait_for("destroyed"),
                          "the consumer was not destroyed: " << probe->history());

    // Its channel left "doomed": nothing queues on it, so nothing is dropped.
    auto const before = layer->dropped_count();
    run_sync(layer->group_send("doomed", ping()));
    run_sync(layer->group_send("doomed", ping()));
    BOOST_TEST(layer->dropped_count() == before,
               "group 'doomed' still holds the dead consumer's channel");
    BOOST_TEST(probe->count("pinged") == 1U);

    check_echo_works(server);
}

BOOST_AUTO_TEST_CASE(abrupt_client_disconnect_runs_disconnect) {
    auto probe = std::make_shared<Probe>();
    TestServer server{consumer_app(probe)};
    auto r = server.ws("/ws/watched/");
    BOOST_REQUIRE_MESSAGE(r, r.error << " (HTTP " << r.http_status << ")");
    BOOST_REQUIRE(probe->wait_for("connected"));
    r.ws->close_abruptly(); // FIN, no close frame
    auto const code = probe->wait_for("disconnect");
    BOOST_REQUIRE_MESSAGE(code, "disconnect() did not run within 5 s");
    BOOST_TEST(*code == 1006);
    BOOST_TEST(eventually([&] { return server.server().connection_count() == 0; }),
               "connection_count() is " << server.server().connection_count());
}

BOOST_AUTO_TEST_CASE(reset_client_connection_runs_disconnect) {
    auto probe = std::make_shared<Probe>();
    TestServer server{consumer_app(probe)};
    auto r = server.ws("/ws/watched/");
    BOOST_REQUIRE_MESSAGE(r, r.error << " (HTTP " << r.http_status << ")");
    BOOST_REQUIRE(probe->wait_for("connected"));
    r.ws->reset(); // RST
    auto const code = probe->wait_for("disconnect");
    BOOST_REQUIRE_MESSAGE(code, "disconnect() did not run within 5 s");
    BOOST_TEST(*code == 1006);
}

BOOST_AUTO_TEST_CASE(client_close_code_reaches_disconnect) {
    auto probe = std::make_shared<Probe>();
    TestServer server{consumer_app(probe)};
    auto r = server.ws("/ws/watched/");
    BOOST_REQUIRE_MESSAGE(r, r.error << " (HTTP " << r.http_status << ")");
    BOOST_REQUIRE(probe->wait_for("connected"));
    BOOST_TEST(r.ws->close(4001, "bye"), r.ws->last_error());
    auto const code = probe->wait_for("disconnect");
    BOOST_REQUIRE_MESSAGE(code, "disconnect() did not run within 5 s");
    BOOST_TEST(*code == 4001);
}

BOOST_AUTO_TEST_CASE(graceful_stop_closes_1001_and_finishes_consumers) {
    auto probe = std::make_shared<Probe>();
    TestServer server{consumer_app(probe)};
    auto r = server.ws("/ws/watched/");
    BOOST_REQUIRE_MESSAGE(r, r.error << " (HTTP " << r.http_status << ")");
    BOOST_REQUIRE(probe->wait_for("connected"));

    // stop() waits for the connections to close, so the client must read meanwhile.
    std::thread stopper{[&] {
        server.server().stop();
        server.server().wait();
    }};
    auto f = r.ws->read();
    stopper.join();
    BOOST_TEST(f.kind == Kind::close, "client got " << f.describe());
    BOOST_TEST(f.close_code == 1001, "client got " << f.describe());
    // Once wait() returned, the consumer has run disconnect() and is gone.
    BOOST_TEST(probe->count("disconnect") == 1U, "events: " << probe->history());
    BOOST_TEST(probe->count("destroyed") == 1U, "events: " << probe->history());
}

BOOST_AUTO_TEST_CASE(stopped_server_releases_its_application) {
    // What the application holds must be released once the Server is gone; a reference cycle
    // (e.g. handlers left in the stopped io_context holding the server) would keep it forever.
    constexpr int rounds = 20;
    int leaked = 0;
    for (int i = 0; i < rounds; ++i) {
        auto token = std::make_shared<int>(i);
        {
            auto probe = std::make_shared<Probe>();
            canal::Application app = [token, inner = consumer_app(probe)](canal::Scope scope,
                                                                          canal::Receive receive,
                                                                          canal::Send send) {
                return inner(std::move(scope), std::move(receive), std::move(send));
            };
            TestServer server{std::move(app)};
            {
                auto r = server.ws("/ws/echo/");
                BOOST_REQUIRE_MESSAGE(r, r.error << " (HTTP " << r.http_status << ")");
                BOOST_REQUIRE(r.ws->send_text("x"));
                BOOST_REQUIRE(r.ws->read().data == "x");
            }
            BOOST_TEST(server.get("/not-http/").status == 404);
            BOOST_TEST(server.ws("/ws/deny/").http_status == 403);
        }
        leaked += token.use_count() > 1 ? 1 : 0;
    }
    BOOST_TEST(leaked == 0, "the application outlived its Server in " << leaked << " of " << rounds
                                                                      << " rounds");
}

BOOST_AUTO_TEST_CASE(stopped_server_no_longer_listens) {
    auto probe = std::make_shared<Probe>();
    unsigned short port = 0;
    {
        TestServer server{consumer_app(probe)}; // started and stopped with no connection
        port = server.port();
    }
    ConnectOptions options;
    options.timeout = 2s;
    auto r = ws_connect("127.0.0.1", port, "/ws/echo/", options);
    BOOST_TEST(!r);
    BOOST_TEST(r.error.find("refused") != std::string::npos,
               "connecting to the port of a destroyed server: " << r.error << " (HTTP "
                                                                << r.http_status << ")");
}

BOOST_AUTO_TEST_SUITE_END()
