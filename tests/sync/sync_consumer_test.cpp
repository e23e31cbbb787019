// The blocking consumers through the testing communicators: WebsocketConsumer's lifecycle
// (handshake answers, frames, close, StopConsumer, cleanup after exceptions), layer
// handlers and groups, JsonWebsocketConsumer's framing, SyncConsumer with post_event, the
// one-at-a-time and in-order contract, parallelism between consumers, and the sync chat.
#include <canal/consumers/websocket_consumer.hpp>

#include "sync_test_helpers.hpp"

#include "chat_app.hpp"
#include "consumers/consumer_test_helpers.hpp"

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/consumers/sync_consumer.hpp>
#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace {

namespace json = boost::json;
using canal::Event;
using canal::Message;
using canal::WebsocketCommunicator;
using canal::test::as_close;
using canal::test::as_send;
using canal::test::deadline;
using canal::test::Gate;
using canal::test::Log;
using canal::test::LogPtr;
using canal::test::run_sync;
using canal::test::text_message;
using namespace std::chrono_literals;

using Layer = std::shared_ptr<canal::InMemoryChannelLayer>;

canal::Scope scope_with(Layer const& layer) {
    canal::Scope scope;
    scope.channel_layer = layer;
    return scope;
}

/** True when no entry of `log` was written on the calling (test, I/O) thread. */
bool all_off_this_thread(Log const& log) {
    for (auto id : log.threads()) {
        if (id == std::this_thread::get_id()) {
            return false;
        }
    }
    return !log.threads().empty();
}

class QuotaExceeded : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/**
 * A blocking echo. Text "close:<code>:<reason>" closes, "stop" throws StopConsumer, "fail"
 * throws std::runtime_error, "many:<n>" sends n messages "m<i>", "block" waits for the gate;
 * other text comes back as "text:<t>", bytes as binary "bytes:<b>". Logs every call.
 */
class SyncEcho : public canal::WebsocketConsumer {
public:
    explicit SyncEcho(LogPtr log, std::shared_ptr<Gate> gate = nullptr)
        : log_(std::move(log)), gate_(std::move(gate)) {}

protected:
    void connect() override {
        log_->add("connect");
        WebsocketConsumer::connect(); // the default: accept()
    }
    void receive(std::string text) override {
        log_->add("receive:" + text);
        if (text.starts_with("close:")) {
            auto colon = text.find(':', 6);
            int code = std::stoi(text.substr(6, colon - 6));
            close(code, colon == std::string::npos ? "" : text.substr(colon + 1));
        } else if (text == "stop") {
            throw canal::StopConsumer();
        } else if (text == "fail") {
            throw std::runtime_error("receive failed on purpose");
        } else if (text.starts_with("many:")) {
            int n = std::stoi(text.substr(5));
            for (int i = 0; i < n; ++i) {
                send("m" + std::to_string(i));
            }
        } else if (text == "block") {
            bool opened = gate_ && gate_->wait();
            log_->add(opened ? "block:released" : "block:timed-out");
            send(opened ? "released" : "timed out");
        } else {
            send("text:" + text);
        }
    }
    void receive_bytes(std::string bytes) override {
        log_->add("receive_bytes");
        send_bytes("bytes:" + bytes);
    }
    void disconnect(int code) override { log_->add("disconnect:" + std::to_string(code)); }

    LogPtr log_;
    std::shared_ptr<Gate> gate_;
};

enum class OnConnect {
    accept_v2,
    accept_unoffered,
    deny,
    close_default,
    close_4403,
    accept_exception,
    throw_error,
};

/** A SyncEcho whose connect() does what the test asks; joins group "connect.g". */
class SyncConnect : public SyncEcho {
public:
    SyncConnect(OnConnect mode, LogPtr log) : SyncEcho(std::move(log)), mode_(mode) {
        groups.emplace_back("connect.g");
    }

protected:
    void connect() override {
        log_->add("channel=" + channel_name());
        switch (mode_) {
        case OnConnect::accept_v2:
            accept("v2");
            break;
        case OnConnect::accept_unoffered:
            accept("nope");
            break;
        case OnConnect::deny:
            throw canal::DenyConnection("not you");
        case OnConnect::close_default:
            close();
            break;
        case OnConnect::close_4403:
            close(4403, "go away");
            break;
        case OnConnect::accept_exception:
            throw canal::AcceptConnection();
        case OnConnect::throw_error:
            throw std::runtime_error("database down");
        }
    }

private:
    OnConnect mode_;
};

struct ConnectFixture {
    LogPtr log = std::make_shared<Log>();
    Layer layer = std::make_shared<canal::InMemoryChannelLayer>();

    WebsocketCommunicator make(OnConnect mode, std::vector<std::string> subprotocols = {}) {
        return WebsocketCommunicator(canal::as_app<SyncConnect>(mode, log), "/ws/test/",
                                     scope_with(layer), std::move(subprotocols));
    }
    bool left(std::string const& group) const {
        return canal::test::left_group(*layer, group, log->value_of("channel="));
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(sync_websocket_consumer)

BOOST_AUTO_TEST_CASE(handlers_run_on_pool_threads_and_can_accept_and_send) {
    auto log = std::make_shared<Log>();
    WebsocketCommunicator comm(canal::as_app<SyncEcho>(log), "/ws/echo/", {}, {"v1"});
    auto result = comm.connect(deadline);
    BOOST_TEST(result.accepted);
    BOOST_TEST(result.subprotocol == "");
    comm.send_to("hello");
    BOOST_TEST(comm.receive_from(deadline) == "text:hello");
    comm.disconnect(1000, deadline);
    BOOST_TEST(log->str() == "connect receive:hello disconnect:1000");
    BOOST_TEST(all_off_this_thread(*log), "a handler ran on the I/O (test) thread");
}

BOOST_AUTO_TEST_CASE(accept_chooses_an_offered_subprotocol) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::accept_v2, {"v1", "v2"});
    auto result = comm.connect(deadline);
    BOOST_TEST(result.accepted);
    BOOST_TEST(result.subprotocol == "v2");
    comm.disconnect(1000, deadline);
}

BOOST_AUTO_TEST_CASE(accepting_a_subprotocol_not_offered_fails_and_cleans_up) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::accept_unoffered, {"v1"});
    BOOST_CHECK_EXCEPTION(comm.connect(deadline), canal::Error, [](canal::Error const& e) {
        return std::string(e.what()).find("did not offer") != std::string::npos;
    });
    BOOST_TEST(f.log->has("disconnect:1011"), f.log->str());
    BOOST_TEST(f.left("connect.g"));
}

BOOST_AUTO_TEST_CASE(deny_connection_refuses_with_a_close_before_accept) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::deny);
    auto result = comm.connect(deadline);
    BOOST_TEST(!result.accepted);
    BOOST_TEST(result.close_code == 1000);
    BOOST_TEST(comm.receive_nothing());
    comm.disconnect(1006, deadline);
    BOOST_TEST(f.log->has("disconnect:1006"), f.log->str());
    BOOST_TEST(f.left("connect.g"));
}

BOOST_AUTO_TEST_CASE(close_in_connect_refuses_with_its_code) {
    ConnectFixture f;
    auto plain = f.make(OnConnect::close_default);
    auto result = plain.connect(deadline);
    BOOST_TEST(!result.accepted);
    BOOST_TEST(result.close_code == 1000);
    plain.disconnect(1006, deadline);

    auto coded = f.make(OnConnect::close_4403);
    coded.communicator().send_input(Event{canal::WebsocketConnect{}});
    Event first = coded.receive_output(deadline);
    BOOST_TEST(as_close(first).code == 4403);
    BOOST_TEST(as_close(first).reason == "go away");
    BOOST_TEST(coded.receive_nothing());
    coded.disconnect(1006, deadline);
}

BOOST_AUTO_TEST_CASE(accept_connection_thrown_in_connect_accepts) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::accept_exception);
    auto result = comm.connect(deadline);
    BOOST_TEST(result.accepted);
    comm.send_to("still open");
    BOOST_TEST(comm.receive_from(deadline) == "text:still open");
    comm.disconnect(1000, deadline);
    BOOST_TEST(f.log->has("disconnect:1000"), f.log->str());
}

BOOST_AUTO_TEST_CASE(exception_in_connect_before_accept_ends_the_application_with_it) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::throw_error);
    BOOST_CHECK_EXCEPTION(
        comm.connect(deadline), std::runtime_error,
        [](std::runtime_error const& e) { return std::string(e.what()) == "database down"; });
    BOOST_CHECK_THROW(comm.communicator().wait(deadline), std::runtime_error);
    BOOST_TEST(f.log->has("disconnect:1011"), f.log->str());
    BOOST_TEST(f.left("connect.g"));
}

BOOST_AUTO_TEST_CASE(text_goes_to_receive_and_bytes_to_receive_bytes) {
    auto log = std::make_shared<Log>();
    WebsocketCommunicator comm(canal::as_app<SyncEcho>(log), "/ws/echo/");
    BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
    comm.send_to("abc");
    std::string const raw("\x00\x01\xff", 3);
    comm.send_bytes_to(raw);
    comm.send_to("def");
    Event first = comm.receive_output(deadline);
    BOOST_TEST(!as_send(first).binary);
    BOOST_TEST(*as_send(first).data == "text:abc");
    Event second = comm.receive_output(deadline);
    BOOST_TEST(as_send(second).binary);
    BOOST_TEST(*as_send(second).data == "bytes:" + raw);
    BOOST_TEST(comm.receive_from(deadline) == "text:def");
    BOOST_TEST(comm.receive_nothing());
    comm.disconnect(1000, deadline);
}

BOOST_AUTO_TEST_CASE(close_sends_code_and_reason_and_later_sends_are_dropped) {
    auto log = std::make_shared<Log>();
    WebsocketCommunicator comm(canal::as_app<SyncEcho>(log), "/ws/echo/");
    BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
    comm.send_to("close:4321:" + std::string(300, 'r'));
    Event ev = comm.receive_output(deadline);
    BOOST_TEST(as_close(ev).code == 4321);
    BOOST_TEST(as_close(ev).reason == std::string(123, 'r'));
    comm.send_to("too late");
    BOOST_TEST(comm.receive_nothing());
    BOOST_TEST(log->has("receive:too late")); // the handler ran; its send was dropped
    comm.disconnect(4321, deadline);
    BOOST_TEST(log->has("disconnect:4321"), log->str());
}

BOOST_AUTO_TEST_CASE(stop_consumer_ends_the_application_without_a_close) {
    auto log = std::make_shared<Log>();
    WebsocketCommunicator comm(canal::as_app<SyncEcho>(log), "/ws/echo/");
    BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
    comm.send_to("stop");
    BOOST_CHECK_NO_THROW(comm.communicator().wait(deadline));
    BOOST_TEST(comm.communicator().finished());
    BOOST_TEST(comm.receive_nothing());
}

BOOST_AUTO_TEST_CASE(exception_in_receive_closes_1011_after_disconnect) {
    auto log = std::make_shared<Log>();
    WebsocketCommunicator comm(canal::as_app<SyncEcho>(log), "/ws/echo/");
    BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
    comm.send_to("fail");
    auto out = canal::test::next_output(comm);
    BOOST_TEST(canal::test::close_code(out) == 1011, "output: " << canal::test::describe(out));
    BOOST_TEST(log->str() == "connect receive:fail disconnect:1011");
    BOOST_CHECK_NO_THROW(comm.communicator().wait(deadline));
    BOOST_TEST(comm.receive_nothing());
}

BOOST_AUTO_TEST_CASE(events_a_handler_sends_come_before_the_next_handlers) {
    auto log = std::make_shared<Log>();
    WebsocketCommunicator comm(canal::as_app<SyncEcho>(log), "/ws/echo/");
    BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
    comm.send_to("many:50");
    comm.send_to("after");
    for (int i = 0; i < 50; ++i) {
        BOOST_TEST_REQUIRE(comm.receive_from(deadline) == "m" + std::to_string(i));
    }
    BOOST_TEST(comm.receive_from(deadline) == "text:after");
    comm.disconnect(1000, deadline);
}

BOOST_AUTO_TEST_CASE(a_disconnect_during_a_handler_waits_for_it) {
    auto log = std::make_shared<Log>();
    auto gate = std::make_shared<Gate>();
    WebsocketCommunicator comm(canal::as_app<SyncEcho>(log, gate), "/ws/echo/");
    canal::test::OpenOnExit open_gate(gate);
    BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
    comm.send_to("block");
    // Run the communicator until the handler is in, then end the connection under it.
    BOOST_TEST_REQUIRE(canal::test::wait_until([&] {
        comm.receive_nothing(1ms);
        return log->has("receive:block");
    }));
    comm.communicator().send_input(Event{canal::WebsocketDisconnect{1001}});
    BOOST_TEST(comm.receive_nothing(20ms));
    BOOST_TEST(!log->has("disconnect:1001"), "disconnect() overlapped the running handler");
    gate->open();
    // disconnect() runs after the handler; the handler's own send still went out, since
    // the disconnect was not handled yet when it sent.
    BOOST_CHECK_NO_THROW(comm.communicator().wait(deadline));
    BOOST_TEST(log->str() == "connect receive:block block:released disconnect:1001");
    BOOST_TEST(comm.receive_from(deadline) == "released");
}

BOOST_AUTO_TEST_SUITE_END()

// --- layer handlers and groups -------------------------------------------------------------

namespace {

/**
 * Joins "g1" and "g2". connect() group_sends a "probe" to g1 through async_to_sync before
 * accepting (it comes back only if the channel is already a member). Handlers: "probe" →
 * "probe:<text>", "group.message" → "group:<text>", "seq" → "L<text>", "boom" throws;
 * client text t → "C<t>", "relay:<group>" group_sends "group.message" from the handler.
 */
class SyncGroups : public canal::WebsocketConsumer {
public:
    explicit SyncGroups(LogPtr log) : log_(std::move(log)) {
        groups = {"g1", "g2"};
        on("probe", &SyncGroups::reply);
        on("group.message", &SyncGroups::reply);
        on("seq", &SyncGroups::reply);
        on("boom", &SyncGroups::boom);
    }

protected:
    void connect() override {
        log_->add("channel=" + channel_name());
        Message probe = text_message("probe", "g1");
        canal::async_to_sync([&] { return channel_layer().group_send("g1", probe); });
        accept();
    }
    void receive(std::string text) override {
        if (text.starts_with("relay:")) {
            Message m = text_message("group.message", "relayed");
            canal::async_to_sync([&] { return channel_layer().group_send(text.substr(6), m); });
            return;
        }
        send("C" + text);
    }
    void disconnect(int code) override { log_->add("disconnect:" + std::to_string(code)); }

    void reply(Message const& m) {
        log_->add("handler:" + std::string(m.type()));
        std::string prefix = m.type() == "probe"           ? "probe:"
                             : m.type() == "group.message" ? "group:"
                                                           : "L";
        send(prefix + std::string(m.at("text").as_string()));
    }
    void boom(Message const& /*m*/) { throw QuotaExceeded("boom handler failed"); }

private:
    LogPtr log_;
};

struct GroupFixture {
    explicit GroupFixture(canal::LayerSettings settings = {})
        : layer(std::make_shared<canal::InMemoryChannelLayer>(settings)),
          comm(canal::as_app<SyncGroups>(log), "/ws/groups/", scope_with(layer)) {}

    void connect() {
        BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
        BOOST_TEST_REQUIRE(comm.receive_from(deadline) == "probe:g1");
    }
    [[nodiscard]] std::string channel() const { return log->value_of("channel="); }

    LogPtr log = std::make_shared<Log>();
    Layer layer;
    WebsocketCommunicator comm;
};

} // namespace

BOOST_AUTO_TEST_SUITE(sync_layer_handlers)

BOOST_AUTO_TEST_CASE(groups_are_joined_before_connect_and_messages_dispatch_by_type) {
    GroupFixture f;
    f.connect();
    run_sync(f.layer->group_send("g2", text_message("group.message", "to g2")));
    BOOST_TEST(f.comm.receive_from(deadline) == "group:to g2");
    run_sync(f.layer->send(f.channel(), text_message("seq", "1")));
    BOOST_TEST(f.comm.receive_from(deadline) == "L1");
    BOOST_TEST(f.comm.receive_nothing());
    f.comm.disconnect(1001, deadline);
    BOOST_TEST(f.log->has("disconnect:1001"));
    BOOST_TEST(all_off_this_thread(*f.log));
    BOOST_TEST(canal::test::left_group(*f.layer, "g1", f.channel()));
    BOOST_TEST(canal::test::left_group(*f.layer, "g2", f.channel()));
}

BOOST_AUTO_TEST_CASE(a_handler_reaches_the_layer_through_async_to_sync) {
    GroupFixture f;
    f.connect();
    f.comm.send_to("relay:g1");
    BOOST_TEST(f.comm.receive_from(deadline) == "group:relayed");
    f.comm.send_to("plain");
    BOOST_TEST(f.comm.receive_from(deadline) == "Cplain");
    f.comm.disconnect(1000, deadline);
}

BOOST_AUTO_TEST_CASE(layer_messages_are_handled_in_order) {
    GroupFixture f(canal::LayerSettings{.capacity = 1000});
    f.connect();
    constexpr int n = 300;
    for (int i = 0; i < n; ++i) {
        run_sync(f.layer->group_send("g1", text_message("seq", std::to_string(i))));
    }
    for (int i = 0; i < n; ++i) {
        BOOST_TEST_REQUIRE(f.comm.receive_from(deadline) == "L" + std::to_string(i));
    }
    f.comm.disconnect(1000, deadline);
}

BOOST_AUTO_TEST_CASE(a_message_without_a_handler_closes_1011_and_cleans_up) {
    GroupFixture f;
    f.connect();
    run_sync(f.layer->send(f.channel(), text_message("no.such.type", "x")));
    auto out = canal::test::next_output(f.comm);
    BOOST_TEST(canal::test::close_code(out) == 1011, "output: " << canal::test::describe(out));
    BOOST_TEST(f.log->has("disconnect:1011"), f.log->str());
    BOOST_CHECK_NO_THROW(f.comm.communicator().wait(deadline));
    BOOST_TEST(canal::test::left_group(*f.layer, "g1", f.channel()));
    BOOST_TEST(canal::test::left_group(*f.layer, "g2", f.channel()));
}

BOOST_AUTO_TEST_CASE(a_throwing_layer_handler_closes_1011_and_cleans_up) {
    GroupFixture f;
    f.connect();
    run_sync(f.layer->group_send("g2", text_message("boom", "x")));
    auto out = canal::test::next_output(f.comm);
    BOOST_TEST(canal::test::close_code(out) == 1011, "output: " << canal::test::describe(out));
    BOOST_TEST(f.log->has("disconnect:1011"), f.log->str());
    BOOST_CHECK_NO_THROW(f.comm.communicator().wait(deadline));
    BOOST_TEST(canal::test::left_group(*f.layer, "g1", f.channel()));
    BOOST_TEST(canal::test::left_group(*f.layer, "g2", f.channel()));
}

BOOST_AUTO_TEST_SUITE_END()

// --- JsonWebsocketConsumer ------------------------------------------------------------------

namespace {

/** Echoes `{"echo": content}`; logs each call. */
class SyncJsonEcho : public canal::JsonWebsocketConsumer {
public:
    explicit SyncJsonEcho(LogPtr log) : log_(std::move(log)) {}

protected:
    void receive_json(json::value content) override {
        log_->add("receive_json");
        json::object out;
        out["echo"] = std::move(content);
        send_json(out);
    }
    void disconnect(int code) override { log_->add("disconnect:" + std::to_string(code)); }

private:
    LogPtr log_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(sync_json_consumer)

BOOST_AUTO_TEST_CASE(json_in_json_out) {
    auto log = std::make_shared<Log>();
    WebsocketCommunicator comm(canal::as_app<SyncJsonEcho>(log), "/ws/json/");
    BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
    comm.send_json_to(json::parse(R"({"a":[1,2,{"b":null}]})"));
    BOOST_TEST(comm.receive_json_from(deadline) ==
               json::parse(R"({"echo":{"a":[1,2,{"b":null}]}})"));
    comm.send_to("42");
    BOOST_TEST(comm.receive_from(deadline) == R"({"echo":42})");
    comm.disconnect(1000, deadline);
    BOOST_TEST(all_off_this_thread(*log));
}

BOOST_AUTO_TEST_CASE(invalid_json_closes_1007) {
    auto log = std::make_shared<Log>();
    WebsocketCommunicator comm(canal::as_app<SyncJsonEcho>(log), "/ws/json/");
    BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
    comm.send_to("{not json");
    Event ev = comm.receive_output(deadline);
    BOOST_TEST(as_close(ev).code == 1007);
    BOOST_TEST(as_close(ev).reason.starts_with("invalid JSON"), as_close(ev).reason);
    BOOST_TEST(!log->has("receive_json"));
    comm.disconnect(1007, deadline);
    BOOST_TEST(log->has("disconnect:1007"));
}

BOOST_AUTO_TEST_CASE(a_binary_frame_closes_1003) {
    auto log = std::make_shared<Log>();
    WebsocketCommunicator comm(canal::as_app<SyncJsonEcho>(log), "/ws/json/");
    BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
    comm.send_bytes_to("{}");
    Event ev = comm.receive_output(deadline);
    BOOST_TEST(as_close(ev).code == 1003);
    comm.disconnect(1003, deadline);
}

BOOST_AUTO_TEST_SUITE_END()

// --- SyncConsumer -----------------------------------------------------------------------------

namespace {

/**
 * A SyncConsumer (no websocket lifecycle): announces its channel name on the first client
 * event; layer handlers "job.run" → post_event(send "job:<text>") from the pool thread,
 * "job.relay" → layer send to channel <text> through async_to_sync, "job.stop" →
 * StopConsumer, "job.fail" → QuotaExceeded.
 */
class Worker : public canal::SyncConsumer {
public:
    explicit Worker(LogPtr log) : log_(std::move(log)) {
        on("job.run", &Worker::run_job);
        on("job.relay", &Worker::relay);
        on("job.stop", &Worker::stop);
        on("job.fail", &Worker::fail);
    }

protected:
    canal::awaitable<void> on_event(Event event) override {
        if (std::holds_alternative<canal::WebsocketDisconnect>(event)) {
            throw canal::StopConsumer(); // lets the communicator end it
        }
        auto name = std::make_shared<std::string const>(channel_name());
        Event announce = canal::WebsocketSend{std::move(name), false};
        co_await send_event(std::move(announce));
    }

    void run_job(Message const& m) {
        std::string text(m.at("text").as_string());
        log_->add("job:" + text);
        Event ev = canal::WebsocketSend{std::make_shared<std::string const>("job:" + text), false};
        post_event(std::move(ev));
    }
    void relay(Message const& m) {
        log_->add("relay");
        std::string to(m.at("text").as_string());
        Message reply = text_message("relayed", "from a sync handler");
        canal::async_to_sync([&] { return channel_layer().send(to, reply); });
    }
    void stop(Message const& /*m*/) {
        log_->add("stop");
        throw canal::StopConsumer();
    }
    void fail(Message const& /*m*/) {
        log_->add("fail");
        throw QuotaExceeded("job quota exceeded");
    }

private:
    LogPtr log_;
};

struct WorkerFixture {
    WorkerFixture() : comm(canal::as_app<Worker>(log), scope_with(layer)) {
        comm.send_input(Event{canal::WebsocketConnect{}});
        Event ev = comm.receive_output(deadline);
        channel = *as_send(ev).data;
    }

    std::string next_text() {
        Event ev = comm.receive_output(deadline);
        return *as_send(ev).data;
    }

    LogPtr log = std::make_shared<Log>();
    Layer layer = std::make_shared<canal::InMemoryChannelLayer>();
    canal::ApplicationCommunicator comm;
    std::string channel;
};

} // namespace

BOOST_AUTO_TEST_SUITE(sync_consumer)

BOOST_AUTO_TEST_CASE(layer_handlers_run_on_the_pool_and_post_events_in_order) {
    WorkerFixture f;
    BOOST_TEST_REQUIRE(!f.channel.empty());
    for (int i = 0; i < 20; ++i) {
        run_sync(f.layer->send(f.channel, text_message("job.run", std::to_string(i))));
    }
    for (int i = 0; i < 20; ++i) {
        BOOST_TEST_REQUIRE(f.next_text() == "job:" + std::to_string(i));
    }
    BOOST_TEST(all_off_this_thread(*f.log));
}

BOOST_AUTO_TEST_CASE(a_handler_reaches_the_layer_through_async_to_sync) {
    WorkerFixture f;
    run_sync(f.layer->send(f.channel, text_message("job.relay", "test.inbox")));
    // The handler's layer send runs on the communicator's context: let it run.
    BOOST_TEST(canal::test::wait_until([&] {
        f.comm.receive_nothing(1ms);
        return f.log->has("relay");
    }));
    std::optional<Message> got;
    BOOST_TEST(canal::test::wait_until([&] {
        f.comm.receive_nothing(1ms);
        got = canal::test::try_receive(*f.layer, "test.inbox", 1ms);
        return got.has_value();
    }));
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST(got->type() == "relayed");
}

BOOST_AUTO_TEST_CASE(stop_consumer_from_a_handler_ends_the_application) {
    WorkerFixture f;
    run_sync(f.layer->send(f.channel, text_message("job.stop", "")));
    BOOST_CHECK_NO_THROW(f.comm.wait(deadline));
    BOOST_TEST(f.log->has("stop"));
}

BOOST_AUTO_TEST_CASE(an_exception_from_a_handler_ends_the_application_with_its_type) {
    WorkerFixture f;
    run_sync(f.layer->send(f.channel, text_message("job.fail", "")));
    BOOST_CHECK_EXCEPTION(f.comm.wait(deadline), QuotaExceeded, [](QuotaExceeded const& e) {
        return std::string(e.what()) == "job quota exceeded";
    });
}

BOOST_AUTO_TEST_SUITE_END()

// --- the contract: one at a time and in order per consumer, parallel across consumers --------

namespace {

/** Counts overlapping and out-of-order calls; answers "ack:<n>" to the number n. */
class OrderedConsumer : public canal::WebsocketConsumer {
public:
    struct Stats {
        std::atomic<int> in_flight{0};
        std::atomic<int> overlaps{0};
        std::atomic<int> out_of_order{0};
        std::atomic<int> next{0};
        std::mutex mutex;
        std::set<std::thread::id> threads;
    };

    explicit OrderedConsumer(std::shared_ptr<Stats> stats) : stats_(std::move(stats)) {}

protected:
    void receive(std::string text) override {
        if (++stats_->in_flight != 1) {
            ++stats_->overlaps;
        }
        int n = std::stoi(text);
        if (n != stats_->next.load()) {
            ++stats_->out_of_order;
        }
        stats_->next = n + 1;
        {
            std::lock_guard lock(stats_->mutex);
            stats_->threads.insert(std::this_thread::get_id());
        }
        std::this_thread::yield(); // widen the window for an overlap
        send("ack:" + text);
        --stats_->in_flight;
    }

private:
    std::shared_ptr<Stats> stats_;
};

/** An async echo: the one that must keep answering while sync handlers block. */
class AsyncEcho : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> receive(std::string text) override { co_await send(std::move(text)); }
};

} // namespace

BOOST_AUTO_TEST_SUITE(sync_contract)

BOOST_AUTO_TEST_CASE(one_consumers_handlers_never_overlap_and_keep_arrival_order) {
    auto stats = std::make_shared<OrderedConsumer::Stats>();
    WebsocketCommunicator comm(canal::as_app<OrderedConsumer>(stats), "/ws/order/");
    BOOST_TEST_REQUIRE(comm.connect(deadline).accepted);
    constexpr int n = 1000;
    for (int i = 0; i < n; ++i) {
        comm.send_to(std::to_string(i));
    }
    for (int i = 0; i < n; ++i) {
        BOOST_TEST_REQUIRE(comm.receive_from(deadline) == "ack:" + std::to_string(i));
    }
    comm.disconnect(1000, deadline);
    BOOST_TEST(stats->overlaps.load() == 0);
    BOOST_TEST(stats->out_of_order.load() == 0);
    BOOST_TEST(stats->next.load() == n);
    std::lock_guard lock(stats->mutex);
    BOOST_TEST(stats->threads.count(std::this_thread::get_id()) == 0U);
    BOOST_TEST_MESSAGE("1000 handlers of one consumer ran on " << stats->threads.size()
                                                               << " pool thread(s)");
}

BOOST_AUTO_TEST_CASE(blocked_consumers_do_not_stop_other_consumers) {
    BOOST_TEST_REQUIRE(canal::handler_threads() >= 3U);
    auto gate = std::make_shared<Gate>();
    auto log_a = std::make_shared<Log>();
    auto log_b = std::make_shared<Log>();
    auto log_c = std::make_shared<Log>();
    WebsocketCommunicator a(canal::as_app<SyncEcho>(log_a, gate), "/ws/a/");
    WebsocketCommunicator b(canal::as_app<SyncEcho>(log_b, gate), "/ws/b/");
    WebsocketCommunicator c(canal::as_app<SyncEcho>(log_c), "/ws/c/");
    WebsocketCommunicator d(canal::as_app<AsyncEcho>(), "/ws/d/");
    canal::test::OpenOnExit open_gate(gate);
    BOOST_TEST_REQUIRE(a.connect(deadline).accepted);
    BOOST_TEST_REQUIRE(b.connect(deadline).accepted);
    BOOST_TEST_REQUIRE(c.connect(deadline).accepted);
    BOOST_TEST_REQUIRE(d.connect(deadline).accepted);

    a.send_to("block");
    b.send_to("block");
    BOOST_TEST_REQUIRE(canal::test::wait_until(
                           [&] {
                               a.receive_nothing(1ms);
                               b.receive_nothing(1ms);
                               return log_a->has("receive:block") && log_b->has("receive:block");
                           },
                           3s),
                       "the two blocking handlers did not both start");

    // Both are parked in a handler: the others are still served, by the pool and the I/O.
    c.send_to("sync");
    BOOST_TEST(c.receive_from(deadline) == "text:sync");
    d.send_to("async");
    BOOST_TEST(d.receive_from(deadline) == "async");
    BOOST_TEST(!gate->is_open());
    BOOST_TEST(!log_a->has("block:released"));

    gate->open();
    BOOST_TEST(a.receive_from(deadline) == "released");
    BOOST_TEST(b.receive_from(deadline) == "released");
    for (auto* comm : {&a, &b, &c, &d}) {
        comm->disconnect(1000, deadline);
    }
}

BOOST_AUTO_TEST_SUITE_END()

// --- the sync chat -----------------------------------------------------------------------------

namespace {

struct SyncChatFixture {
    Layer layer = std::make_shared<canal::InMemoryChannelLayer>();
    canal::Application app = canal::URLRouter{{
        canal::path("ws/chat/<str:room_name>/", canal::as_app<chat::SyncChatConsumer>()),
    }};

    std::unique_ptr<WebsocketCommunicator> client(std::string const& room) {
        return std::make_unique<WebsocketCommunicator>(app, "/ws/chat/" + room + "/",
                                                       scope_with(layer));
    }
    std::unique_ptr<WebsocketCommunicator> member(std::string const& room) {
        auto c = client(room);
        BOOST_TEST_REQUIRE(c->connect(deadline).accepted);
        return c;
    }
};

json::value chat_message(std::string const& text) {
    json::object m;
    m["message"] = text;
    return m;
}

} // namespace

BOOST_AUTO_TEST_SUITE(sync_chat)

BOOST_AUTO_TEST_CASE(two_members_get_every_message_in_order) {
    SyncChatFixture f;
    auto a = f.member("lobby");
    auto b = f.member("lobby");
    constexpr int n = 10;
    for (int i = 0; i < n; ++i) {
        a->send_json_to(chat_message("a" + std::to_string(i)));
    }
    // The sender's context runs its handlers' group_sends: read the sender first.
    for (int i = 0; i < n; ++i) {
        BOOST_TEST_REQUIRE(a->receive_json_from(deadline) == chat_message("a" + std::to_string(i)));
    }
    for (int i = 0; i < n; ++i) {
        BOOST_TEST_REQUIRE(b->receive_json_from(deadline) == chat_message("a" + std::to_string(i)));
    }
    b->send_json_to(chat_message("from b"));
    BOOST_TEST(b->receive_json_from(deadline) == chat_message("from b"));
    BOOST_TEST(a->receive_json_from(deadline) == chat_message("from b"));
    BOOST_TEST(a->receive_nothing());
    BOOST_TEST(b->receive_nothing());
    a->disconnect(1000, deadline);
    b->disconnect(1000, deadline);
}

BOOST_AUTO_TEST_CASE(a_member_that_left_receives_nothing_more) {
    SyncChatFixture f;
    auto a = f.member("lobby");
    auto b = f.member("lobby");
    b->disconnect(1000, deadline);
    a->send_json_to(chat_message("anyone?"));
    BOOST_TEST(a->receive_json_from(deadline) == chat_message("anyone?"));
    BOOST_TEST(f.layer->dropped_count() == 0U);
    a->disconnect(1000, deadline);
}

BOOST_AUTO_TEST_CASE(an_invalid_room_name_is_refused) {
    SyncChatFixture f;
    for (std::string room : {std::string(200, 'a'), std::string("bad room")}) {
        auto c = f.client(room);
        auto result = c->connect(deadline);
        BOOST_TEST(!result.accepted, "room '" << room << "' was accepted");
        BOOST_TEST(result.close_code == 1000);
        c->disconnect(1006, deadline);
    }
    auto ok = f.member("fine-room");
    ok->disconnect(1000, deadline);
}

BOOST_AUTO_TEST_CASE(bad_json_closes_1007_and_a_bad_message_gets_an_error) {
    SyncChatFixture f;
    auto a = f.member("lobby");
    json::object bad;
    bad["nomessage"] = 1;
    a->send_json_to(bad);
    BOOST_TEST(a->receive_json_from(deadline).at("error").is_string());
    a->send_to("{not json");
    Event ev = a->receive_output(deadline);
    BOOST_TEST(as_close(ev).code == 1007);
    a->disconnect(1007, deadline);
}

BOOST_AUTO_TEST_SUITE_END()
