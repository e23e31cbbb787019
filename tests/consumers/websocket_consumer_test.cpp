// AsyncWebsocketConsumer's lifecycle through WebsocketCommunicator: the handshake answers
// (accept, subprotocols, DenyConnection, close, AcceptConnection), frame routing, close and
// disconnect codes, StopConsumer, and exceptions before and after the handshake.
#include <canal/consumers/async_websocket_consumer.hpp>

#include "consumer_test_helpers.hpp"

#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/test/unit_test.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

using namespace std::chrono_literals;

namespace {

using canal::awaitable;
using canal::Event;
using canal::WebsocketCommunicator;
using canal::test::as_close;
using canal::test::as_send;
using canal::test::Record;
using canal::test::RecordPtr;

/**
 * Default connect() (accept). Text "close:<code>:<reason>" closes, "stop" throws
 * StopConsumer, "fail" throws std::runtime_error; other text comes back as "text:<t>",
 * bytes as binary "bytes:<b>".
 */
class EchoConsumer : public canal::AsyncWebsocketConsumer {
public:
    explicit EchoConsumer(RecordPtr rec) : rec_(std::move(rec)) {}

protected:
    awaitable<void> receive(std::string text) override {
        if (text.starts_with("close:")) {
            auto colon = text.find(':', 6);
            int code = std::stoi(text.substr(6, colon - 6));
            std::string reason = colon == std::string::npos ? "" : text.substr(colon + 1);
            co_await close(code, std::move(reason));
        } else if (text == "stop") {
            throw canal::StopConsumer();
        } else if (text == "fail") {
            throw std::runtime_error("receive failed on purpose");
        } else {
            co_await send("text:" + text);
        }
    }
    awaitable<void> receive_bytes(std::string bytes) override {
        co_await send_bytes("bytes:" + bytes);
    }
    awaitable<void> disconnect(int code) override {
        rec_->disconnect_codes.push_back(code);
        co_return;
    }

private:
    RecordPtr rec_;
};

/** What ConnectConsumer::connect() does. */
enum class OnConnect {
    accept_v2,        // accept("v2")
    accept_unoffered, // accept("nope")
    deny,             // throw DenyConnection
    close_default,    // close()
    close_4403,       // close(4403, "go away")
    accept_exception, // throw AcceptConnection
    throw_error,      // throw std::runtime_error before accepting
};

/** An EchoConsumer whose connect() does what the test asks; joins group "connect.g". */
class ConnectConsumer : public EchoConsumer {
public:
    ConnectConsumer(OnConnect mode, RecordPtr rec) : EchoConsumer(rec), mode_(mode), rec_(rec) {
        groups.emplace_back("connect.g");
    }

protected:
    awaitable<void> connect() override {
        rec_->channel = channel_name();
        switch (mode_) {
        case OnConnect::accept_v2:
            co_await accept("v2");
            break;
        case OnConnect::accept_unoffered:
            co_await accept("nope");
            break;
        case OnConnect::deny:
            throw canal::DenyConnection("not you");
        case OnConnect::close_default:
            co_await close();
            break;
        case OnConnect::close_4403:
            co_await close(4403, "go away");
            break;
        case OnConnect::accept_exception:
            throw canal::AcceptConnection();
        case OnConnect::throw_error:
            throw std::runtime_error("database down");
        }
    }

private:
    OnConnect mode_;
    RecordPtr rec_;
};

/** A scope with its own in-memory layer, so that `groups` can be joined. */
canal::Scope scope_with_layer(std::shared_ptr<canal::InMemoryChannelLayer> const& layer) {
    canal::Scope scope;
    scope.channel_layer = layer;
    return scope;
}

struct ConnectFixture {
    RecordPtr rec = std::make_shared<Record>();
    std::shared_ptr<canal::InMemoryChannelLayer> layer =
        std::make_shared<canal::InMemoryChannelLayer>();

    WebsocketCommunicator make(OnConnect mode, std::vector<std::string> subprotocols = {}) {
        return WebsocketCommunicator(canal::as_app<ConnectConsumer>(mode, rec), "/ws/test/",
                                     scope_with_layer(layer), std::move(subprotocols));
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(websocket_consumer)

/**
 * Channels' low-level handlers overridden, as the seeds' consumers do: websocket_connect
 * accepts, websocket_receive answers with the raw event, websocket_disconnect records the
 * code and throws StopConsumer.
 */
class LowLevelConsumer : public canal::AsyncWebsocketConsumer {
public:
    explicit LowLevelConsumer(RecordPtr rec) : rec_(std::move(rec)) {}

protected:
    awaitable<void> websocket_connect(canal::WebsocketConnect /*message*/) override {
        co_await accept();
    }
    awaitable<void> websocket_receive(canal::WebsocketReceive message) override {
        std::string reply = (message.binary ? "raw bytes:" : "raw text:") + message.data;
        co_await send(std::move(reply));
    }
    awaitable<void> websocket_disconnect(canal::WebsocketDisconnect message) override {
        rec_->disconnect_codes.push_back(message.code);
        throw canal::StopConsumer();
    }
    // Not called: the low-level handlers above replace the default ones that call these.
    awaitable<void> receive(std::string /*text*/) override {
        throw std::logic_error("receive() called behind an overridden websocket_receive");
    }
    awaitable<void> disconnect(int /*code*/) override {
        throw std::logic_error("disconnect() called behind an overridden websocket_disconnect");
    }

private:
    RecordPtr rec_;
};

BOOST_AUTO_TEST_CASE(low_level_handlers_take_the_raw_events) {
    auto rec = std::make_shared<Record>();
    WebsocketCommunicator comm(canal::as_app<LowLevelConsumer>(rec), "/ws/raw/");
    BOOST_TEST(comm.connect().accepted);
    comm.send_to("hello");
    BOOST_TEST(comm.receive_from() == "raw text:hello");
    comm.send_bytes_to("b");
    BOOST_TEST(comm.receive_from() == "raw bytes:b");
    comm.disconnect(4001);
    BOOST_TEST(rec->disconnect_codes == std::vector<int>{4001});
    BOOST_TEST(comm.communicator().finished()); // ended by StopConsumer, without an error
}

BOOST_AUTO_TEST_CASE(default_connect_accepts_without_subprotocol) {
    auto rec = std::make_shared<Record>();
    WebsocketCommunicator comm(canal::as_app<EchoConsumer>(rec), "/ws/echo/", {}, {"v1"});
    auto result = comm.connect();
    BOOST_TEST(result.accepted);
    BOOST_TEST(result.subprotocol == "");
    BOOST_TEST(result.close_code == 0);
    comm.send_to("hello");
    BOOST_TEST(comm.receive_from() == "text:hello");
    comm.disconnect();
}

BOOST_AUTO_TEST_CASE(accept_chooses_an_offered_subprotocol) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::accept_v2, {"v1", "v2"});
    auto result = comm.connect();
    BOOST_TEST(result.accepted);
    BOOST_TEST(result.subprotocol == "v2");
    comm.disconnect();
}

BOOST_AUTO_TEST_CASE(accepting_a_subprotocol_not_offered_fails) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::accept_unoffered, {"v1", "v2"});
    // Nothing is sent: the application ends with the error, which the communicator rethrows
    // (a server answers the handshake with HTTP 500).
    BOOST_CHECK_EXCEPTION(comm.connect(), canal::Error, [](canal::Error const& e) {
        return std::string(e.what()).find("did not offer") != std::string::npos;
    });
    BOOST_CHECK_THROW(comm.communicator().finished(), canal::Error);
    BOOST_TEST(f.rec->disconnect_codes == std::vector<int>{1011});
    BOOST_TEST(canal::test::left_group(*f.layer, "connect.g", f.rec->channel));
}

BOOST_AUTO_TEST_CASE(deny_connection_refuses_with_a_close_before_accept) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::deny);
    // The first event out is a WebsocketClose (a refusal: HTTP 403), not an accept.
    comm.communicator().send_input(Event{canal::WebsocketConnect{}});
    Event first = comm.receive_output();
    BOOST_TEST_REQUIRE(std::holds_alternative<canal::WebsocketClose>(first));
    BOOST_TEST(as_close(first).code == 1000);
    BOOST_TEST(comm.receive_nothing());
    // The server then reports the end of the connection.
    comm.disconnect(1006);
    BOOST_TEST(f.rec->disconnect_codes == std::vector<int>{1006});
    BOOST_TEST(canal::test::left_group(*f.layer, "connect.g", f.rec->channel));
}

BOOST_AUTO_TEST_CASE(deny_connection_gives_a_refused_connect_result) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::deny);
    auto result = comm.connect();
    BOOST_TEST(!result.accepted);
    BOOST_TEST(result.close_code == 1000);
    comm.disconnect(1006);
}

BOOST_AUTO_TEST_CASE(close_in_connect_refuses) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::close_default);
    auto result = comm.connect();
    BOOST_TEST(!result.accepted);
    BOOST_TEST(result.close_code == 1000);
    BOOST_TEST(comm.receive_nothing());
    comm.disconnect(1006);
    BOOST_TEST(f.rec->disconnect_codes == std::vector<int>{1006});
}

BOOST_AUTO_TEST_CASE(close_with_a_code_in_connect_reports_that_code) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::close_4403);
    comm.communicator().send_input(Event{canal::WebsocketConnect{}});
    Event first = comm.receive_output();
    BOOST_TEST(as_close(first).code == 4403);
    BOOST_TEST(as_close(first).reason == "go away");
    comm.disconnect(1006);
}

BOOST_AUTO_TEST_CASE(accept_connection_thrown_in_connect_accepts) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::accept_exception);
    auto result = comm.connect();
    BOOST_TEST(result.accepted);
    BOOST_TEST(result.close_code == 0);
    comm.send_to("still open");
    BOOST_TEST(comm.receive_from() == "text:still open");
    comm.disconnect(1000);
    BOOST_TEST(f.rec->disconnect_codes == std::vector<int>{1000});
}

BOOST_AUTO_TEST_CASE(text_goes_to_receive_and_bytes_to_receive_bytes) {
    auto rec = std::make_shared<Record>();
    WebsocketCommunicator comm(canal::as_app<EchoConsumer>(rec), "/ws/echo/");
    BOOST_TEST_REQUIRE(comm.connect().accepted);

    comm.send_to("abc");
    std::string const raw("\x00\x01\xff", 3);
    comm.send_bytes_to(raw);
    comm.send_to("def");

    Event first = comm.receive_output();
    BOOST_TEST(!as_send(first).binary);
    BOOST_TEST(*as_send(first).data == "text:abc");
    Event second = comm.receive_output();
    BOOST_TEST(as_send(second).binary);
    BOOST_TEST(*as_send(second).data == "bytes:" + raw);
    BOOST_TEST(comm.receive_from() == "text:def");
    BOOST_TEST(comm.receive_nothing());
    comm.disconnect();
}

BOOST_AUTO_TEST_CASE(close_after_accept_sends_the_code_and_reason) {
    auto rec = std::make_shared<Record>();
    WebsocketCommunicator comm(canal::as_app<EchoConsumer>(rec), "/ws/echo/");
    BOOST_TEST_REQUIRE(comm.connect().accepted);
    comm.send_to("close:4321:bye now");
    Event ev = comm.receive_output();
    BOOST_TEST(as_close(ev).code == 4321);
    BOOST_TEST(as_close(ev).reason == "bye now");
    // Sends after close() are dropped.
    comm.send_to("too late");
    BOOST_TEST(comm.receive_nothing());
    comm.disconnect(4321);
    BOOST_TEST(rec->disconnect_codes == std::vector<int>{4321});
}

BOOST_AUTO_TEST_CASE(close_reason_is_cut_to_what_a_close_frame_holds) {
    auto rec = std::make_shared<Record>();
    WebsocketCommunicator comm(canal::as_app<EchoConsumer>(rec), "/ws/echo/");
    BOOST_TEST_REQUIRE(comm.connect().accepted);
    comm.send_to("close:1000:" + std::string(300, 'r'));
    Event ev = comm.receive_output();
    BOOST_TEST(as_close(ev).code == 1000);
    BOOST_TEST(as_close(ev).reason == std::string(123, 'r'));
    comm.disconnect();
}

BOOST_AUTO_TEST_CASE(disconnect_gets_the_code_the_client_closed_with) {
    for (int code : {1000, 1001, 4242}) {
        auto rec = std::make_shared<Record>();
        WebsocketCommunicator comm(canal::as_app<EchoConsumer>(rec), "/ws/echo/");
        BOOST_TEST_REQUIRE(comm.connect().accepted);
        comm.disconnect(code); // waits for the application to end; rethrows its error
        BOOST_TEST(rec->disconnect_codes == std::vector<int>{code});
        BOOST_TEST(comm.communicator().finished());
    }
}

BOOST_AUTO_TEST_CASE(stop_consumer_ends_the_application_without_a_close) {
    auto rec = std::make_shared<Record>();
    WebsocketCommunicator comm(canal::as_app<EchoConsumer>(rec), "/ws/echo/");
    BOOST_TEST_REQUIRE(comm.connect().accepted);
    comm.send_to("stop");
    // Ends without an exception and without sending anything (no close 1011).
    BOOST_CHECK_NO_THROW(comm.communicator().wait());
    BOOST_TEST(comm.communicator().finished());
    BOOST_TEST(comm.receive_nothing());
    // As in Channels, a StopConsumer from a handler skips disconnect().
    BOOST_TEST_MESSAGE("disconnect() calls after StopConsumer: " << rec->disconnect_codes.size());
}

BOOST_AUTO_TEST_CASE(exception_in_receive_closes_1011_after_disconnect) {
    auto rec = std::make_shared<Record>();
    WebsocketCommunicator comm(canal::as_app<EchoConsumer>(rec), "/ws/echo/");
    BOOST_TEST_REQUIRE(comm.connect().accepted);
    comm.send_to("fail");
    auto out = canal::test::next_output(comm);
    BOOST_TEST(canal::test::close_code(out) == 1011, "output: " << canal::test::describe(out));
    BOOST_TEST(rec->disconnect_codes == std::vector<int>{1011});
    // The consumer dealt with the error: the application itself ends normally.
    BOOST_CHECK_NO_THROW(comm.communicator().wait());
    BOOST_TEST(comm.receive_nothing());
}

BOOST_AUTO_TEST_CASE(exception_in_connect_before_accept_ends_the_application_with_it) {
    ConnectFixture f;
    auto comm = f.make(OnConnect::throw_error);
    // Observed: nothing is sent (no accept, no close); disconnect(1011) runs, the groups are
    // left, and the application ends with the original exception, which the communicator
    // rethrows from connect() (a server answers HTTP 500).
    BOOST_CHECK_EXCEPTION(comm.connect(), std::runtime_error, [](std::runtime_error const& e) {
        return std::string(e.what()) == "database down";
    });
    BOOST_CHECK_THROW(comm.communicator().wait(), std::runtime_error);
    BOOST_TEST(f.rec->disconnect_codes == std::vector<int>{1011});
    BOOST_TEST(canal::test::left_group(*f.layer, "connect.g", f.rec->channel));
}

BOOST_AUTO_TEST_SUITE_END()
