// Layer messages and groups through the communicators: `groups` joined before connect() and
// left after disconnect(), dispatch by "type" with on(), ordering of layer and client
// messages, and the cleanup when a layer message has no handler or a handler throws.
#include <canal/consumers/async_websocket_consumer.hpp>

#include "consumer_test_helpers.hpp"

#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/object.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

using canal::awaitable;
using canal::Message;
using canal::WebsocketCommunicator;
using canal::test::left_group;
using canal::test::Record;
using canal::test::RecordPtr;
using canal::test::run_sync;
using canal::test::text_message;

using Layer = std::shared_ptr<canal::InMemoryChannelLayer>;

canal::Scope scope_with(Layer const& layer) {
    canal::Scope scope;
    scope.channel_layer = layer;
    return scope;
}

/**
 * Joins "g1" and "g2" (set in the constructor). connect() group_sends a "probe" to g1
 * before accepting: it only comes back if the channel already is a member.
 * Handlers: "probe" → "probe:<text>", "group.message" → "group:<text>", "x.y" (member
 * function) → "x.y:<text>", "a.b" (std::function) → "a.b:<text>", "seq" → "L<text>";
 * client text t → "C<t>", "fail" throws, "stop" throws StopConsumer. No handler for
 * anything else.
 */
class GroupConsumer : public canal::AsyncWebsocketConsumer {
public:
    explicit GroupConsumer(RecordPtr rec) : rec_(std::move(rec)) {
        groups = {"g1", "g2"};
        on("probe", &GroupConsumer::probe);
        on("group.message", &GroupConsumer::group_message);
        on("x.y", &GroupConsumer::x_y);
        on("a.b", Handler{[this](Message const& m) { return reply("a.b:", m); }});
        on("seq", &GroupConsumer::seq);
    }

protected:
    awaitable<void> connect() override {
        rec_->channel = channel_name();
        Message probe = text_message("probe", "g1");
        co_await channel_layer().group_send("g1", std::move(probe));
        co_await accept();
    }
    awaitable<void> receive(std::string text) override {
        if (text == "fail") {
            throw std::runtime_error("receive failed on purpose");
        }
        if (text == "stop") {
            throw canal::StopConsumer();
        }
        co_await send("C" + text);
    }
    awaitable<void> disconnect(int code) override {
        rec_->disconnect_codes.push_back(code);
        co_return;
    }

    awaitable<void> probe(Message const& m) { co_await reply("probe:", m); }
    awaitable<void> group_message(Message const& m) { co_await reply("group:", m); }
    awaitable<void> x_y(Message const& m) { co_await reply("x.y:", m); }
    awaitable<void> seq(Message const& m) { co_await reply("L", m); }

private:
    awaitable<void> reply(std::string prefix, Message const& m) {
        std::string text = prefix + std::string(m.at("text").as_string());
        co_await send(std::move(text));
    }

    RecordPtr rec_;
};

struct GroupFixture {
    explicit GroupFixture(canal::LayerSettings settings = {})
        : layer(std::make_shared<canal::InMemoryChannelLayer>(settings)),
          comm(canal::as_app<GroupConsumer>(rec), "/ws/groups/", scope_with(layer)) {}

    /** Connects and consumes the probe that proves g1 was joined before connect(). */
    void connect() {
        auto result = comm.connect();
        BOOST_TEST_REQUIRE(result.accepted);
        BOOST_TEST_REQUIRE(comm.receive_from() == "probe:g1");
        BOOST_TEST_REQUIRE(!rec->channel.empty());
    }

    RecordPtr rec = std::make_shared<Record>();
    Layer layer;
    WebsocketCommunicator comm;
};

} // namespace

BOOST_AUTO_TEST_SUITE(groups_and_dispatch)

BOOST_AUTO_TEST_CASE(groups_are_joined_before_connect) {
    GroupFixture f;
    auto result = f.comm.connect();
    BOOST_TEST_REQUIRE(result.accepted);
    // The probe connect() sent to g1 came back: the channel was in g1 when connect() ran.
    BOOST_TEST(f.comm.receive_from() == "probe:g1");
    f.comm.disconnect();
}

BOOST_AUTO_TEST_CASE(group_send_from_outside_reaches_the_consumer) {
    GroupFixture f;
    f.connect();
    run_sync(f.layer->group_send("g2", text_message("group.message", "to g2")));
    BOOST_TEST(f.comm.receive_from() == "group:to g2");
    run_sync(f.layer->group_send("g1", text_message("group.message", "to g1")));
    BOOST_TEST(f.comm.receive_from() == "group:to g1");
    BOOST_TEST(f.comm.receive_nothing());
    f.comm.disconnect();
}

BOOST_AUTO_TEST_CASE(a_layer_call_runs_on_the_communicators_executor) {
    GroupFixture f;
    f.connect();
    // run() drives the call and the application together: the message arrives at once.
    f.comm.communicator().run(f.layer->group_send("g2", text_message("group.message", "run")));
    BOOST_TEST(f.comm.receive_from() == "group:run");
    // What the call threw, rethrown: a group name the layer refuses.
    BOOST_CHECK_THROW(f.comm.communicator().run(f.layer->group_send(
                          "no spaces", text_message("group.message", "refused"))),
                      canal::InvalidName);
    // An operation that does not complete in time.
    auto never = []() -> canal::awaitable<void> {
        canal::net::steady_timer timer(co_await canal::net::this_coro::executor,
                                       std::chrono::hours(1));
        co_await timer.async_wait(canal::use_awaitable);
    };
    BOOST_CHECK_THROW(f.comm.communicator().run(never(), std::chrono::milliseconds(20)),
                      canal::Error);
    f.comm.disconnect();
}

BOOST_AUTO_TEST_CASE(groups_are_left_after_disconnect) {
    // Capacity 1: a channel still in a group would hold the next group message.
    GroupFixture f(canal::LayerSettings{.capacity = 1});
    f.connect();
    f.comm.disconnect(1001);
    BOOST_TEST(f.rec->disconnect_codes == std::vector<int>{1001});
    BOOST_TEST(left_group(*f.layer, "g1", f.rec->channel));
    BOOST_TEST(left_group(*f.layer, "g2", f.rec->channel));
    // And a group_send to the empty groups drops nothing and queues nothing.
    run_sync(f.layer->group_send("g1", text_message("group.message", "late")));
    BOOST_TEST(f.layer->dropped_count() == 0U);
    BOOST_CHECK_NO_THROW(run_sync(f.layer->send(f.rec->channel, text_message("x", "fits"))));
}

BOOST_AUTO_TEST_CASE(another_member_still_receives_after_one_disconnects) {
    auto layer = std::make_shared<canal::InMemoryChannelLayer>();
    auto rec_a = std::make_shared<Record>();
    auto rec_b = std::make_shared<Record>();
    WebsocketCommunicator a(canal::as_app<GroupConsumer>(rec_a), "/ws/a/", scope_with(layer));
    WebsocketCommunicator b(canal::as_app<GroupConsumer>(rec_b), "/ws/b/", scope_with(layer));
    BOOST_TEST_REQUIRE(a.connect().accepted);
    BOOST_TEST_REQUIRE(a.receive_from() == "probe:g1");
    BOOST_TEST_REQUIRE(b.connect().accepted);
    // b's probe reached both members.
    BOOST_TEST_REQUIRE(b.receive_from() == "probe:g1");
    BOOST_TEST_REQUIRE(a.receive_from() == "probe:g1");

    a.disconnect();
    run_sync(layer->group_send("g2", text_message("group.message", "after a left")));
    BOOST_TEST(b.receive_from() == "group:after a left");
    BOOST_TEST(a.receive_nothing());
    b.disconnect();
    // Checked once b is gone too: b has no handler for the check's message.
    BOOST_TEST(left_group(*layer, "g2", rec_a->channel));
    BOOST_TEST(left_group(*layer, "g2", rec_b->channel));
}

BOOST_AUTO_TEST_CASE(layer_messages_are_dispatched_by_type) {
    GroupFixture f;
    f.connect();
    run_sync(f.layer->send(f.rec->channel, text_message("a.b", "one")));
    run_sync(f.layer->send(f.rec->channel, text_message("x.y", "two")));
    run_sync(f.layer->send(f.rec->channel, text_message("a.b", "three")));
    BOOST_TEST(f.comm.receive_from() == "a.b:one");
    BOOST_TEST(f.comm.receive_from() == "x.y:two");
    BOOST_TEST(f.comm.receive_from() == "a.b:three");
    BOOST_TEST(f.comm.receive_nothing());
    f.comm.disconnect();
}

BOOST_AUTO_TEST_CASE(layer_and_client_messages_each_arrive_in_order) {
    constexpr int count = 500;
    GroupFixture f(canal::LayerSettings{.capacity = 1000});
    f.connect();
    for (int i = 0; i < count; ++i) {
        run_sync(f.layer->send(f.rec->channel, text_message("seq", std::to_string(i))));
        f.comm.send_to(std::to_string(i));
    }
    int next_layer = 0;
    int next_client = 0;
    for (int i = 0; i < 2 * count; ++i) {
        std::string out = f.comm.receive_from();
        BOOST_REQUIRE(!out.empty());
        if (out[0] == 'L') {
            BOOST_REQUIRE_EQUAL(out, "L" + std::to_string(next_layer));
            ++next_layer;
        } else {
            BOOST_REQUIRE_EQUAL(out, "C" + std::to_string(next_client));
            ++next_client;
        }
    }
    BOOST_TEST(next_layer == count);
    BOOST_TEST(next_client == count);
    BOOST_TEST(f.comm.receive_nothing());
    f.comm.disconnect();
}

BOOST_AUTO_TEST_CASE(a_message_without_handler_closes_1011_and_cleans_up) {
    // canal's deliberate difference from Channels (which raises ValueError from the
    // consumer): the consumer closes with 1011, runs disconnect() and leaves its groups.
    GroupFixture f;
    f.connect();
    run_sync(f.layer->send(f.rec->channel, text_message("nobody.home", "?")));
    auto out = canal::test::next_output(f.comm);
    BOOST_TEST(canal::test::close_code(out) == 1011, "output: " << canal::test::describe(out));
    BOOST_TEST(f.rec->disconnect_codes == std::vector<int>{1011});
    BOOST_CHECK_NO_THROW(f.comm.communicator().wait());
    BOOST_TEST(left_group(*f.layer, "g1", f.rec->channel));
    BOOST_TEST(left_group(*f.layer, "g2", f.rec->channel));
}

BOOST_AUTO_TEST_CASE(an_exception_in_receive_closes_1011_and_leaves_groups) {
    GroupFixture f;
    f.connect();
    f.comm.send_to("fail");
    auto out = canal::test::next_output(f.comm);
    BOOST_TEST(canal::test::close_code(out) == 1011, "output: " << canal::test::describe(out));
    BOOST_TEST(f.rec->disconnect_codes == std::vector<int>{1011});
    BOOST_CHECK_NO_THROW(f.comm.communicator().wait());
    BOOST_TEST(left_group(*f.layer, "g1", f.rec->channel));
    BOOST_TEST(left_group(*f.layer, "g2", f.rec->channel));
    // The client's disconnect after the close does not run disconnect() a second time.
    BOOST_TEST(f.comm.receive_nothing());
    BOOST_TEST(f.rec->disconnect_codes.size() == 1U);
}

BOOST_AUTO_TEST_CASE(stop_consumer_ends_quietly) {
    GroupFixture f;
    f.connect();
    f.comm.send_to("stop");
    BOOST_CHECK_NO_THROW(f.comm.communicator().wait());
    BOOST_TEST(f.comm.receive_nothing()); // no close 1011
    // Not part of the contract (as in Channels, StopConsumer skips disconnect()); logged so
    // that a change shows up.
    bool const left = left_group(*f.layer, "g1", f.rec->channel);
    BOOST_TEST_MESSAGE("after StopConsumer: disconnect() ran "
                       << f.rec->disconnect_codes.size() << " time(s); groups left: " << left);
}

BOOST_AUTO_TEST_SUITE_END()
