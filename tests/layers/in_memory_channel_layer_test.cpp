// Tests of InMemoryChannelLayer and of ChannelLayer's name rules.
#include <canal/layers/in_memory_channel_layer.hpp>

#include "support/async_run.hpp"

#include <canal/core/errors.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/object.hpp>
#include <boost/system/system_error.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using canal::awaitable;
using canal::ChannelLayer;
using canal::InMemoryChannelLayer;
using canal::LayerSettings;
using canal::Message;
namespace net = canal::net;

// Every io_context runs under this deadline, so a receive() that is never woken fails the
// test instead of hanging it.
constexpr auto deadline = 10s;

using canal::test::run_async;
using canal::test::run_sync;

// What `op` threw as an E, or a note that it threw nothing.
template <typename E, typename T>
awaitable<std::string> thrown(awaitable<T> op) {
    std::string what = "(nothing thrown)";
    try {
        co_await std::move(op);
    } catch (E const& e) {
        what = e.what();
    }
    co_return what;
}

awaitable<void> pause(std::chrono::milliseconds duration) {
    net::steady_timer timer(co_await net::this_coro::executor, duration);
    co_await timer.async_wait(canal::use_awaitable);
}

std::int64_t n_of(Message const& m) { return m.at("n").as_int64(); }

Message numbered(std::string type, std::int64_t n) {
    boost::json::object obj;
    obj["type"] = std::move(type);
    obj["n"] = n;
    return Message(std::move(obj));
}

// Sends `count` messages {"sender": sender, "n": 0...} to `group`, one after the other.
awaitable<void> group_send_numbered(ChannelLayer& layer, std::string group, std::int64_t sender,
                                    int count) {
    for (int i = 0; i < count; ++i) {
        boost::json::object obj;
        obj["type"] = "count";
        obj["sender"] = sender;
        obj["n"] = i;
        co_await layer.group_send(group, Message(std::move(obj)));
    }
}

// True when `channel` holds no message: a marker sent now is the next one received.
awaitable<bool> is_empty(ChannelLayer& layer, std::string channel) {
    Message marker{{"type", "test.marker"}};
    co_await layer.send(channel, marker);
    auto const next = co_await layer.receive(channel);
    co_return next.shares_payload_with(marker);
}

bool is_operation_aborted(std::exception_ptr e) {
    if (!e) {
        return false;
    }
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& error) {
        return error.code() == net::error::operation_aborted;
    } catch (...) {
        return false;
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(in_memory_channel_layer)

BOOST_AUTO_TEST_CASE(receives_in_send_order) {
    InMemoryChannelLayer layer;
    run_async([&]() -> awaitable<void> {
        for (int i = 0; i < 5; ++i) {
            co_await layer.send("inbox", numbered("chat.message", i));
        }
        for (int i = 0; i < 5; ++i) {
            auto const m = co_await layer.receive("inbox");
            BOOST_TEST(m.type() == "chat.message");
            BOOST_TEST(m.at("n").as_int64() == i);
        }
        BOOST_TEST(co_await is_empty(layer, "inbox"));
    });
}

BOOST_AUTO_TEST_CASE(send_does_not_copy_the_payload) {
    InMemoryChannelLayer layer;
    run_async([&]() -> awaitable<void> {
        Message sent{{"type", "chat.message"}, {"text", "hello"}};
        co_await layer.send("inbox", sent);
        auto const got = co_await layer.receive("inbox");
        BOOST_TEST(got.shares_payload_with(sent));
        BOOST_TEST(got.at("text").as_string() == "hello");
    });
}

BOOST_AUTO_TEST_CASE(send_throws_channel_full_at_capacity) {
    InMemoryChannelLayer layer(LayerSettings{.capacity = 3});
    BOOST_TEST(layer.settings().capacity == 3u);
    run_async([&]() -> awaitable<void> {
        for (int i = 0; i < 3; ++i) {
            co_await layer.send("inbox", numbered("m", i));
        }
        auto const what =
            co_await thrown<canal::ChannelFull>(layer.send("inbox", numbered("m", 3)));
        BOOST_TEST(what == "channel 'inbox' is full (capacity 3)");
        // Another channel is not affected.
        co_await layer.send("other", numbered("m", 0));

        // Receiving one makes room for one.
        BOOST_TEST((co_await layer.receive("inbox")).at("n").as_int64() == 0);
        co_await layer.send("inbox", numbered("m", 4));
        auto const again =
            co_await thrown<canal::ChannelFull>(layer.send("inbox", numbered("m", 5)));
        BOOST_TEST(again == "channel 'inbox' is full (capacity 3)");
        for (int n : {1, 2, 4}) {
            BOOST_TEST((co_await layer.receive("inbox")).at("n").as_int64() == n);
        }
    });
    BOOST_TEST(layer.dropped_count() == 0u); // send throws, it does not count
}

BOOST_AUTO_TEST_CASE(settings_are_checked) {
    BOOST_CHECK_THROW(InMemoryChannelLayer(LayerSettings{.capacity = 0}), std::invalid_argument);
    BOOST_CHECK_THROW(InMemoryChannelLayer(LayerSettings{.expiry = 0ms}), std::invalid_argument);
    BOOST_CHECK_THROW(InMemoryChannelLayer(LayerSettings{.group_expiry = -1ms}),
                      std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(group_send_waits_for_room_in_a_full_member) {
    InMemoryChannelLayer layer(LayerSettings{.capacity = 3, .backpressure_timeout = 5s});
    run_async([&]() -> awaitable<void> {
        co_await layer.group_add("room", "full");
        co_await layer.group_add("room", "free");
        for (int i = 0; i < 3; ++i) {
            co_await layer.send("full", numbered("own", i));
        }
        // A receiver on another coroutine takes one message a little later: the group_send
        // below waits for that room instead of skipping the member.
        auto ex = co_await net::this_coro::executor;
        bool sent = false;
        net::co_spawn(
            ex,
            [&]() -> awaitable<void> {
                net::steady_timer t(ex, 50ms);
                co_await t.async_wait(net::use_awaitable);
                BOOST_TEST(!sent); // still waiting for room
                auto const own = co_await layer.receive("full");
                BOOST_TEST(own.at("n").as_int64() == 0);
            },
            [](std::exception_ptr e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
        Message broadcast{{"type", "room.message"}};
        co_await layer.group_send("room", broadcast);
        sent = true;
        BOOST_TEST(layer.dropped_count() == 0u);
        BOOST_TEST((co_await layer.receive("free")).shares_payload_with(broadcast));
        for (int i = 1; i < 3; ++i) {
            BOOST_TEST((co_await layer.receive("full")).at("n").as_int64() == i);
        }
        // The broadcast came after the member's own messages, in order.
        BOOST_TEST((co_await layer.receive("full")).shares_payload_with(broadcast));
        BOOST_TEST(co_await is_empty(layer, "full"));
    });
}

BOOST_AUTO_TEST_CASE(group_send_gives_up_a_member_full_too_long_and_it_is_told) {
    InMemoryChannelLayer layer(LayerSettings{.capacity = 2, .backpressure_timeout = 100ms});
    run_async([&]() -> awaitable<void> {
        co_await layer.group_add("room", "stuck");
        co_await layer.group_add("room", "free");
        for (int i = 0; i < 2; ++i) {
            co_await layer.send("stuck", numbered("own", i));
        }
        auto const start = std::chrono::steady_clock::now();
        co_await layer.group_send("room", numbered("room.message", 1));
        BOOST_TEST((std::chrono::steady_clock::now() - start >= 100ms)); // it waited first
        BOOST_TEST(layer.dropped_count() == 1u);
        BOOST_TEST(n_of(co_await layer.receive("free")) == 1);
        // Given up: no more waiting on it, and its receiver learns what happened.
        co_await layer.group_send("room", numbered("room.message", 2));
        BOOST_TEST(layer.dropped_count() == 1u);
        BOOST_TEST(n_of(co_await layer.receive("free")) == 2);
        std::string what;
        try {
            co_await layer.receive("stuck");
        } catch (canal::ChannelOverflow const& e) {
            what = e.what();
        }
        BOOST_TEST(what.find("channel 'stuck' missed messages") == 0, what);
        // After the consumer was told, the channel starts afresh.
        co_await layer.send("stuck", numbered("later", 3));
        BOOST_TEST(n_of(co_await layer.receive("stuck")) == 3);
    });
}

BOOST_AUTO_TEST_CASE(group_send_members_share_one_payload) {
    InMemoryChannelLayer layer;
    run_async([&]() -> awaitable<void> {
        std::vector<std::string> const members = {"a", "b", "c"};
        for (auto const& m : members) {
            co_await layer.group_add("room", m);
        }
        co_await layer.group_add("other", "d");
        Message broadcast{{"type", "room.message"}, {"text", "hi all"}};
        co_await layer.group_send("room", broadcast);
        std::vector<Message> received;
        for (auto const& m : members) {
            received.push_back(co_await layer.receive(m));
        }
        for (auto const& r : received) {
            BOOST_TEST(r.shares_payload_with(broadcast));
            BOOST_TEST(r.shares_payload_with(received.front()));
        }
        BOOST_TEST(co_await is_empty(layer, "d"));
        // A group nobody joined: nothing happens.
        co_await layer.group_send("nobody", broadcast);
    });
    BOOST_TEST(layer.dropped_count() == 0u);
}

BOOST_AUTO_TEST_CASE(group_add_twice_delivers_once) {
    InMemoryChannelLayer layer;
    run_async([&]() -> awaitable<void> {
        co_await layer.group_add("room", "a");
        co_await layer.group_add("room", "a");
        co_await layer.group_send("room", numbered("room.message", 1));
        BOOST_TEST((co_await layer.receive("a")).at("n").as_int64() == 1);
        BOOST_TEST(co_await is_empty(layer, "a"));
    });
}

BOOST_AUTO_TEST_CASE(group_discard_stops_delivery_and_ignores_non_members) {
    InMemoryChannelLayer layer;
    run_async([&]() -> awaitable<void> {
        co_await layer.group_add("room", "a");
        co_await layer.group_add("room", "b");
        co_await layer.group_discard("room", "a");
        co_await layer.group_discard("room", "not-a-member"); // no-op
        co_await layer.group_discard("no-such-group", "a");   // no-op
        co_await layer.group_send("room", numbered("room.message", 1));
        BOOST_TEST((co_await layer.receive("b")).at("n").as_int64() == 1);
        BOOST_TEST(co_await is_empty(layer, "a"));

        // The last member leaving removes the group; joining again works.
        co_await layer.group_discard("room", "b");
        co_await layer.group_send("room", numbered("room.message", 2));
        BOOST_TEST(co_await is_empty(layer, "b"));
        co_await layer.group_add("room", "b");
        co_await layer.group_send("room", numbered("room.message", 3));
        BOOST_TEST((co_await layer.receive("b")).at("n").as_int64() == 3);
    });
}

BOOST_AUTO_TEST_CASE(expired_messages_are_dropped_and_free_capacity) {
    InMemoryChannelLayer layer(LayerSettings{.capacity = 2, .expiry = 200ms});
    run_async([&]() -> awaitable<void> {
        co_await layer.send("inbox", numbered("old", 1));
        co_await layer.send("inbox", numbered("old", 2));
        auto const full =
            co_await thrown<canal::ChannelFull>(layer.send("inbox", numbered("m", 3)));
        BOOST_TEST(full == "channel 'inbox' is full (capacity 2)");

        co_await pause(300ms);
        // Both expired: the channel has room for two again, and only new messages arrive.
        co_await layer.send("inbox", numbered("new", 1));
        co_await layer.send("inbox", numbered("new", 2));
        for (int n : {1, 2}) {
            auto const m = co_await layer.receive("inbox");
            BOOST_TEST(m.type() == "new");
            BOOST_TEST(m.at("n").as_int64() == n);
        }

        // An expired message is not received even when nothing else is sent.
        co_await layer.send("quiet", numbered("old", 1));
        co_await pause(300ms);
        BOOST_TEST(co_await is_empty(layer, "quiet"));
    });
}

BOOST_AUTO_TEST_CASE(a_channel_whose_message_expired_leaves_its_groups) {
    // Channels' InMemoryChannelLayer does this: such a channel is presumed dead.
    InMemoryChannelLayer layer(LayerSettings{.expiry = 200ms});
    run_async([&]() -> awaitable<void> {
        co_await layer.group_add("room", "dead");
        co_await layer.group_add("room", "alive");
        co_await layer.send("dead", numbered("unread", 0));
        co_await pause(300ms);
        co_await layer.group_send("room", numbered("room.message", 1));
        BOOST_TEST((co_await layer.receive("alive")).at("n").as_int64() == 1);
        BOOST_TEST(co_await is_empty(layer, "dead"));
        co_await layer.group_send("room", numbered("room.message", 2));
        BOOST_TEST((co_await layer.receive("alive")).at("n").as_int64() == 2);
        BOOST_TEST(co_await is_empty(layer, "dead"));
    });
}

BOOST_AUTO_TEST_CASE(group_membership_lapses_unless_renewed) {
    InMemoryChannelLayer layer(LayerSettings{.group_expiry = 500ms});
    run_async([&]() -> awaitable<void> {
        co_await layer.group_add("room", "lapsing");
        co_await layer.group_add("room", "renewed");
        co_await pause(300ms);
        co_await layer.group_add("room", "renewed"); // renews its membership
        co_await layer.group_send("room", numbered("room.message", 1));
        BOOST_TEST((co_await layer.receive("lapsing")).at("n").as_int64() == 1);
        BOOST_TEST((co_await layer.receive("renewed")).at("n").as_int64() == 1);

        co_await pause(300ms); // 600 ms since "lapsing" joined, 300 ms since the renewal
        co_await layer.group_send("room", numbered("room.message", 2));
        BOOST_TEST(co_await is_empty(layer, "lapsing"));
        BOOST_TEST((co_await layer.receive("renewed")).at("n").as_int64() == 2);

        co_await pause(600ms); // everyone lapsed: the group is gone
        co_await layer.group_send("room", numbered("room.message", 3));
        BOOST_TEST(co_await is_empty(layer, "renewed"));
        co_await layer.group_add("room", "lapsing"); // joining again works
        co_await layer.group_send("room", numbered("room.message", 4));
        BOOST_TEST((co_await layer.receive("lapsing")).at("n").as_int64() == 4);
    });
    BOOST_TEST(layer.dropped_count() == 0u);
}

BOOST_AUTO_TEST_CASE(new_channel_names_are_unique_and_valid) {
    InMemoryChannelLayer layer;
    run_async([&]() -> awaitable<void> {
        std::set<std::string> names;
        for (int i = 0; i < 1000; ++i) {
            auto name = co_await layer.new_channel();
            BOOST_TEST(ChannelLayer::is_valid_channel_name(name), name);
            BOOST_TEST(name.starts_with("specific.inmemory!"), name);
            auto const random = name.substr(name.find('!') + 1);
            BOOST_TEST(random.size() == 12u);
            for (char c : random) {
                BOOST_TEST(((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')), name);
            }
            names.insert(std::move(name));
        }
        BOOST_TEST(names.size() == 1000u);

        auto const chat = co_await layer.new_channel("chat.consumer");
        BOOST_TEST(chat.starts_with("chat.consumer.inmemory!"), chat);

        // A new channel works like any other.
        Message hello{{"type", "hello"}};
        co_await layer.send(chat, hello);
        BOOST_TEST((co_await layer.receive(chat)).shares_payload_with(hello));

        // The longest prefix still gives a name under 100 characters.
        auto const longest = co_await layer.new_channel(std::string(77, 'p'));
        BOOST_TEST(longest.size() == 99u);
        BOOST_TEST(ChannelLayer::is_valid_channel_name(longest));

        std::string const rule = "is invalid: only ASCII letters, digits, '-', '_' and '.' are "
                                 "allowed, under 78 characters";
        auto const spaced = co_await thrown<canal::InvalidName>(layer.new_channel("bad prefix"));
        BOOST_TEST(spaced == "channel prefix 'bad prefix' " + rule);
        auto const bang = co_await thrown<canal::InvalidName>(layer.new_channel("a!b"));
        BOOST_TEST(bang == "channel prefix 'a!b' " + rule);
        auto const empty = co_await thrown<canal::InvalidName>(layer.new_channel(""));
        BOOST_TEST(empty == "channel prefix '' " + rule);
        auto const too_long =
            co_await thrown<canal::InvalidName>(layer.new_channel(std::string(78, 'p')));
        BOOST_TEST(too_long == "channel prefix '" + std::string(78, 'p') + "' " + rule);
    });
}

BOOST_AUTO_TEST_CASE(flush_drops_messages_and_groups_but_keeps_waiting_receivers) {
    InMemoryChannelLayer layer;
    net::io_context ioc;
    Message after{{"type", "after.flush"}};
    std::optional<Message> waited;
    net::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            co_await layer.send("inbox", numbered("before", 1));
            co_await layer.group_add("room", "member");
            // Posted, so it starts once the receive() below waits (co_spawn alone would
            // start it right here: co_spawn dispatches).
            net::post(ioc, [&] {
                net::co_spawn(
                    ioc,
                    [&]() -> awaitable<void> {
                        co_await layer.flush();
                        BOOST_TEST(co_await is_empty(layer, "inbox"));
                        co_await layer.group_send("room", numbered("room.message", 1));
                        BOOST_TEST(co_await is_empty(layer, "member"));
                        co_await layer.send("waiting", after);
                    },
                    [](std::exception_ptr e) {
                        if (e) {
                            std::rethrow_exception(e);
                        }
                    });
            });
            waited = co_await layer.receive("waiting");
        },
        [](std::exception_ptr e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
    ioc.run_for(deadline);
    BOOST_REQUIRE(waited.has_value());
    BOOST_TEST(waited->shares_payload_with(after));
}

BOOST_AUTO_TEST_CASE(receive_waits_and_resumes_on_its_strand_when_another_thread_sends) {
    InMemoryChannelLayer layer;
    net::io_context ioc;
    auto strand = net::make_strand(ioc);
    Message hello{{"type", "hello"}};
    std::thread sender;
    std::optional<Message> got;
    bool on_strand = false;
    std::thread::id resumed_on;
    std::thread::id sender_id;
    net::co_spawn(
        strand,
        [&]() -> awaitable<void> {
            // Runs after this coroutine suspends inside receive(): the send must wake it.
            net::post(strand, [&] {
                sender = std::thread([&] { run_sync(layer.send("inbox", hello)); });
                sender_id = sender.get_id();
            });
            got = co_await layer.receive("inbox");
            on_strand = strand.running_in_this_thread();
            resumed_on = std::this_thread::get_id();
        },
        [](std::exception_ptr e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
    ioc.run_for(deadline); // returns early once receive() is done: it is the only work
    sender.join();
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->shares_payload_with(hello));
    BOOST_TEST(on_strand);
    BOOST_TEST((resumed_on == std::this_thread::get_id()));
    BOOST_TEST((resumed_on != sender_id));
}

BOOST_AUTO_TEST_CASE(cancelled_receive_throws_operation_aborted_and_loses_nothing) {
    InMemoryChannelLayer layer;
    net::io_context ioc;
    net::cancellation_signal cancel;
    std::exception_ptr failure;
    bool finished = false;
    net::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            // Runs once receive() waits.
            net::post(ioc, [&] { cancel.emit(net::cancellation_type::terminal); });
            (void)co_await layer.receive("inbox");
        },
        net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
            failure = e;
            finished = true;
        }));
    ioc.run_for(deadline);
    BOOST_REQUIRE(finished);
    BOOST_TEST(is_operation_aborted(failure));

    // The cancelled receive() is gone: a message sent afterwards goes to the next one.
    Message later{{"type", "later"}};
    run_sync(layer.send("inbox", later));
    BOOST_TEST(run_sync(layer.receive("inbox")).shares_payload_with(later));
}

BOOST_AUTO_TEST_CASE(a_cancelled_group_send_stops_waiting_and_gives_nobody_up) {
    InMemoryChannelLayer layer(LayerSettings{.capacity = 1, .backpressure_timeout = 5s});
    run_sync(layer.group_add("room", "full"));
    run_sync(layer.send("full", numbered("own", 0)));
    net::io_context ioc;
    net::cancellation_signal cancel;
    std::exception_ptr failure;
    bool finished = false;
    auto const start = std::chrono::steady_clock::now();
    net::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            // Runs once group_send() waits for room.
            net::post(ioc, [&] { cancel.emit(net::cancellation_type::terminal); });
            co_await layer.group_send("room", numbered("room.message", 1));
        },
        net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
            failure = e;
            finished = true;
        }));
    ioc.run_for(deadline);
    BOOST_REQUIRE(finished);
    BOOST_TEST(is_operation_aborted(failure));
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2s)); // not after the 5 s timeout
    BOOST_TEST(layer.dropped_count() == 0u);
    // The member was not given up: it still receives normally.
    BOOST_TEST(n_of(run_sync(layer.receive("full"))) == 0);
    run_sync(layer.group_send("room", numbered("room.message", 2)));
    BOOST_TEST(n_of(run_sync(layer.receive("full"))) == 2);
}

BOOST_AUTO_TEST_CASE(a_message_arriving_with_the_cancellation_stays_queued) {
    InMemoryChannelLayer layer;
    net::io_context ioc;
    net::cancellation_signal cancel;
    Message raced{{"type", "raced"}};
    std::exception_ptr failure;
    bool finished = false;
    net::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            net::post(ioc, [&] {
                // The wakeup is queued before the cancellation: receive() must not take
                // the message and then throw.
                run_sync(layer.send("inbox", raced));
                cancel.emit(net::cancellation_type::terminal);
            });
            (void)co_await layer.receive("inbox");
        },
        net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
            failure = e;
            finished = true;
        }));
    ioc.run_for(deadline);
    BOOST_REQUIRE(finished);
    BOOST_TEST(is_operation_aborted(failure));
    BOOST_TEST(run_sync(layer.receive("inbox")).shares_payload_with(raced));
}

BOOST_AUTO_TEST_CASE(a_second_receiver_on_a_waited_channel_throws) {
    InMemoryChannelLayer layer;
    net::io_context ioc;
    Message release{{"type", "release"}};
    std::string second_error;
    std::optional<Message> first_got;
    auto second = [&]() -> awaitable<void> {
        try {
            (void)co_await layer.receive("inbox");
        } catch (canal::Error const& e) {
            second_error = e.what();
        }
        co_await layer.send("inbox", release);
    };
    auto rethrow = [](std::exception_ptr e) {
        if (e) {
            std::rethrow_exception(e);
        }
    };
    net::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            net::post(ioc, [&] { net::co_spawn(ioc, second, rethrow); });
            first_got = co_await layer.receive("inbox");
        },
        rethrow);
    ioc.run_for(deadline);
    BOOST_TEST(second_error ==
               "channel 'inbox' already has a waiting receive(): a channel has one receiver; use "
               "a group to deliver a message to several consumers");
    BOOST_REQUIRE(first_got.has_value());
    BOOST_TEST(first_got->shares_payload_with(release));
}

BOOST_AUTO_TEST_CASE(a_waiting_receive_outlives_the_layer_object) {
    auto layer = std::make_shared<InMemoryChannelLayer>();
    net::io_context ioc;
    net::cancellation_signal cancel;
    std::exception_ptr failure;
    bool finished = false;
    net::co_spawn(
        ioc,
        [&, receive = layer->receive("inbox")]() mutable -> awaitable<void> {
            net::post(ioc, [&] {
                layer.reset();
                cancel.emit(net::cancellation_type::terminal);
            });
            (void)co_await std::move(receive);
        },
        net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
            failure = e;
            finished = true;
        }));
    ioc.run_for(deadline);
    BOOST_REQUIRE(finished);
    BOOST_TEST(is_operation_aborted(failure));
}

BOOST_AUTO_TEST_CASE(a_receive_destroyed_with_its_io_context_unregisters) {
    InMemoryChannelLayer layer;
    {
        net::io_context ioc;
        net::co_spawn(
            ioc, [&]() -> awaitable<void> { (void)co_await layer.receive("inbox"); },
            [](std::exception_ptr) {});
        ioc.poll(); // the receive() starts and waits
        BOOST_TEST(!ioc.stopped());
    } // destroyed with the receive() pending

    // The channel takes a new receiver, and a send does not touch the dead one.
    net::io_context ioc;
    Message after{{"type", "after"}};
    std::optional<Message> got;
    net::co_spawn(
        ioc,
        [&]() -> awaitable<void> {
            net::post(ioc, [&] { run_sync(layer.send("inbox", after)); });
            got = co_await layer.receive("inbox");
        },
        [](std::exception_ptr e) {
            if (e) {
                std::rethrow_exception(e);
            }
        });
    ioc.run_for(deadline);
    BOOST_REQUIRE(got.has_value());
    BOOST_TEST(got->shares_payload_with(after));
}

BOOST_AUTO_TEST_CASE(concurrent_group_sends_reach_every_member_in_sender_order) {
    constexpr int senders = 4;
    constexpr int per_sender = 1000;
    constexpr int members = 5;
    InMemoryChannelLayer layer(LayerSettings{.capacity = senders * per_sender + 1});
    for (int m = 0; m < members; ++m) {
        run_sync(layer.group_add("all", "member" + std::to_string(m)));
    }

    // Receivers: each on its own strand of an io_context run by two threads. Boost.Test
    // assertions are not thread-safe, so they record and the main thread checks.
    struct Tally {
        int received = 0;
        int out_of_order = 0;
        std::vector<std::int64_t> next = std::vector<std::int64_t>(senders, 0);
        std::exception_ptr failure;
    };
    std::vector<Tally> tallies(members);
    net::io_context receivers;
    for (int m = 0; m < members; ++m) {
        net::co_spawn(
            net::make_strand(receivers),
            [&layer, &tally = tallies[m], m]() -> awaitable<void> {
                auto const channel = "member" + std::to_string(m);
                for (int i = 0; i < senders * per_sender; ++i) {
                    auto const message = co_await layer.receive(channel);
                    auto const sender = message.at("sender").as_int64();
                    auto const seq = message.at("n").as_int64();
                    if (seq != tally.next[sender]) {
                        ++tally.out_of_order;
                    }
                    tally.next[sender] = seq + 1;
                    ++tally.received;
                }
            },
            [&tally = tallies[m]](std::exception_ptr e) { tally.failure = e; });
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.emplace_back([&] { receivers.run_for(deadline); });
    }
    for (int s = 0; s < senders; ++s) {
        threads.emplace_back(
            [&layer, s] { run_sync(group_send_numbered(layer, "all", s, per_sender)); });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (auto const& tally : tallies) {
        BOOST_TEST(!tally.failure);
        BOOST_TEST(tally.received == senders * per_sender);
        BOOST_TEST(tally.out_of_order == 0);
        for (auto const next : tally.next) {
            BOOST_TEST(next == per_sender);
        }
    }
    BOOST_TEST(layer.dropped_count() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(names)

BOOST_AUTO_TEST_CASE(channel_name_rules) {
    std::vector<std::string> const valid = {
        "a",
        "chat",
        "A-Z_a-z.0-9",
        "specific.inmemory!AbCdEfGhIjKl",
        "specific!", // the non-local part of a process-local name
        "a!b.c-d_e",
        std::string(99, 'c'),
        std::string(98, 'c') + "!",
    };
    std::vector<std::string> const invalid = {
        "",           std::string(100, 'c'),
        "chat lobby", " chat",
        "chat\n",     "!abc",
        "a!b!c",      "a!!",
        "café",       "чат",
        "a/b",        "a:b",
        "a*",         std::string("a\0b", 3),
    };
    for (auto const& name : valid) {
        BOOST_TEST(ChannelLayer::is_valid_channel_name(name), "'" << name << "'");
        BOOST_CHECK_NO_THROW(ChannelLayer::require_valid_channel_name(name));
    }
    for (auto const& name : invalid) {
        BOOST_TEST(!ChannelLayer::is_valid_channel_name(name), "'" << name << "'");
        BOOST_CHECK_THROW(ChannelLayer::require_valid_channel_name(name), canal::InvalidName);
    }
}

BOOST_AUTO_TEST_CASE(group_name_rules) {
    std::vector<std::string> const valid = {
        "a", "chat_lobby", "room-1.general", "0", std::string(99, 'g'),
    };
    std::vector<std::string> const invalid = {
        "",           std::string(100, 'g'),
        "chat lobby", "room!",
        "a!b",        "!",
        "café",       "チャット",
        "a\tb",       "a/b",
        "a#b",
    };
    for (auto const& name : valid) {
        BOOST_TEST(ChannelLayer::is_valid_group_name(name), "'" << name << "'");
        BOOST_CHECK_NO_THROW(ChannelLayer::require_valid_group_name(name));
    }
    for (auto const& name : invalid) {
        BOOST_TEST(!ChannelLayer::is_valid_group_name(name), "'" << name << "'");
        BOOST_CHECK_THROW(ChannelLayer::require_valid_group_name(name), canal::InvalidName);
    }
}

BOOST_AUTO_TEST_CASE(invalid_names_say_what_is_allowed) {
    auto const message_of = [](auto check, std::string const& name) {
        try {
            check(name);
        } catch (canal::InvalidName const& e) {
            return std::string(e.what());
        }
        return std::string("(nothing thrown)");
    };
    auto const group = [](std::string const& n) { ChannelLayer::require_valid_group_name(n); };
    auto const channel = [](std::string const& n) { ChannelLayer::require_valid_channel_name(n); };
    std::string const group_rule = " is invalid: only ASCII letters, digits, '-', '_' and '.' "
                                   "are allowed, under 100 characters";
    std::string const channel_rule = " is invalid: only ASCII letters, digits, '-', '_', '.' "
                                     "and one '!' (not first) are allowed, under 100 characters";

    BOOST_TEST(message_of(group, "chat lobby") == "group name 'chat lobby'" + group_rule);
    BOOST_TEST(message_of(group, "") == "group name ''" + group_rule);
    BOOST_TEST(message_of(group, "room!") == "group name 'room!'" + group_rule);
    BOOST_TEST(message_of(channel, "a!b!c") == "channel name 'a!b!c'" + channel_rule);
    BOOST_TEST(message_of(channel, "café") == "channel name 'café'" + channel_rule);
    // Control bytes are escaped and huge names cut, so a name cannot forge or flood a log.
    BOOST_TEST(message_of(channel, "a\nb") == "channel name 'a\\x0ab'" + channel_rule);
    BOOST_TEST(message_of(group, std::string(500, 'g')) ==
               "group name '" + std::string(120, 'g') + "'... (500 bytes)" + group_rule);
}

BOOST_AUTO_TEST_CASE(layer_operations_check_names) {
    InMemoryChannelLayer layer;
    run_async([&]() -> awaitable<void> {
        Message m{{"type", "x"}};
        auto const send = co_await thrown<canal::InvalidName>(layer.send("bad name", m));
        BOOST_TEST(send.starts_with("channel name 'bad name' is invalid"));
        auto const receive = co_await thrown<canal::InvalidName>(layer.receive("!bad"));
        BOOST_TEST(receive.starts_with("channel name '!bad' is invalid"));
        auto const add_group = co_await thrown<canal::InvalidName>(layer.group_add("a!b", "ok"));
        BOOST_TEST(add_group.starts_with("group name 'a!b' is invalid"));
        auto const add_channel =
            co_await thrown<canal::InvalidName>(layer.group_add("ok", "bad name"));
        BOOST_TEST(add_channel.starts_with("channel name 'bad name' is invalid"));
        auto const discard =
            co_await thrown<canal::InvalidName>(layer.group_discard("chat lobby", "ok"));
        BOOST_TEST(discard.starts_with("group name 'chat lobby' is invalid"));
        auto const group_send = co_await thrown<canal::InvalidName>(layer.group_send("", m));
        BOOST_TEST(group_send.starts_with("group name '' is invalid"));
        // Process-local names are fine everywhere a channel name goes.
        co_await layer.group_add("room", "specific.inmemory!abc");
        co_await layer.group_send("room", m);
        BOOST_TEST((co_await layer.receive("specific.inmemory!abc")).shares_payload_with(m));
    });
}

BOOST_AUTO_TEST_SUITE_END()
