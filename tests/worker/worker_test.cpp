// Worker: applications fed by named channels of an in-memory layer (Channels' runworker),
// with sync and async consumers behind a ChannelNameRouter, and the bad cases: an unknown
// channel, a message without a type or without a handler, an instance that fails.
#include <canal/worker/worker.hpp>

#include <canal/consumers/async_consumer.hpp>
#include <canal/consumers/sync_consumer.hpp>
#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/routing/channel_name_router.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/sync/handler_pool.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace canal;
using namespace std::chrono_literals;

namespace {

std::string text_of(Message const& m, std::string_view key) {
    return std::string(m.at(key).as_string());
}

// A sync worker consumer: blocking work on the handler pool, then an answer through the layer.
class JobConsumer : public SyncConsumer {
public:
    JobConsumer() { on("job.run", &JobConsumer::run_job); }

private:
    void run_job(Message const& job) {
        std::this_thread::sleep_for(2ms); // the blocking work a worker is for
        Message done{{"type", "job.done"},
                     {"n", job.at("n")},
                     {"channel", scope().channel},
                     {"scope_type", scope().type},
                     {"on_io_thread", detail::on_io_thread()}};
        auto const reply_to = text_of(job, "reply_to");
        async_to_sync([&] { return channel_layer().send(reply_to, done); });
    }
};

// An async worker consumer.
class EchoConsumer : public AsyncConsumer {
public:
    EchoConsumer() { on("echo", &EchoConsumer::echo); }

private:
    awaitable<void> echo(Message const& message) {
        auto const reply_to = text_of(message, "reply_to");
        Message echoed{{"type", "echoed"}, {"n", message.at("n")}};
        co_await channel_layer().send(reply_to, std::move(echoed));
    }
};

// Answers on the layer named "side" (get_channel_layer): a worker's scope has its aliases.
class SideConsumer : public AsyncConsumer {
public:
    SideConsumer() { on("ask", &SideConsumer::ask); }

private:
    awaitable<void> ask(Message const& message) {
        auto side = get_channel_layer(scope(), "side");
        if (!side) {
            throw Error("no layer 'side' in the worker's scope");
        }
        Message answer{{"type", "answer"}, {"n", message.at("n")}};
        co_await side->send(text_of(message, "reply_to"), std::move(answer));
    }
};

Message job(std::string const& type, int n, std::string const& reply_to) {
    return Message{{"type", type}, {"n", n}, {"reply_to", reply_to}};
}

// Runs `scenario` with the worker started on one io_context, then stops the worker: the
// context's run() must return by itself once everything has ended.
template <typename Scenario>
void with_worker(Worker& worker, std::shared_ptr<InMemoryChannelLayer> const& layer,
                 Scenario scenario) {
    net::io_context ioc;
    worker.start(ioc.get_executor());
    bool finished = false;
    std::exception_ptr failure;
    net::co_spawn(ioc, scenario(layer), [&](std::exception_ptr e) {
        finished = true;
        failure = e;
        worker.stop();
    });
    ioc.run_for(20s);
    BOOST_TEST_REQUIRE(finished);
    BOOST_TEST(ioc.stopped()); // no instance left behind after stop()
    BOOST_TEST(worker.running() == 0U);
    if (failure) {
        std::rethrow_exception(failure);
    }
}

// Waits (bounded) until `done()` holds, letting the worker run meanwhile.
template <typename Predicate>
awaitable<void> wait_until(Predicate done) {
    net::steady_timer timer(co_await net::this_coro::executor);
    for (int i = 0; i < 5000 && !done(); ++i) {
        timer.expires_after(1ms);
        co_await timer.async_wait(use_awaitable);
    }
    BOOST_TEST_REQUIRE(done());
}

// `inner`, counting the instances that ended (an error included).
Application counting_ends(Application inner, std::shared_ptr<std::atomic<int>> ended) {
    return [inner, ended](Scope scope, Receive receive, Send send) -> awaitable<void> {
        std::exception_ptr failure;
        try {
            co_await inner(std::move(scope), std::move(receive), std::move(send));
        } catch (...) {
            failure = std::current_exception();
        }
        ++*ended;
        if (failure) {
            std::rethrow_exception(failure);
        }
    };
}

bool message_contains(std::exception const& e, std::string const& text) {
    return std::string(e.what()).find(text) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(worker)

BOOST_AUTO_TEST_CASE(sync_and_async_consumers_get_their_channels_messages_in_order) {
    auto layer = std::make_shared<InMemoryChannelLayer>();
    Worker worker(ChannelNameRouter({{"jobs", as_app<JobConsumer>()},
                                     {"echo", as_app<EchoConsumer>()}}),
                  {"jobs", "echo"}, layer);
    std::vector<Message> done;
    std::vector<Message> echoed;
    with_worker(worker, layer, [&](std::shared_ptr<InMemoryChannelLayer> l) -> awaitable<void> {
        auto const reply_to = co_await l->new_channel();
        for (int n = 0; n < 5; ++n) {
            auto j = job("job.run", n, reply_to);
            co_await l->send("jobs", std::move(j));
            auto e = job("echo", n, reply_to);
            co_await l->send("echo", std::move(e));
        }
        for (int i = 0; i < 10; ++i) {
            auto m = co_await l->receive(reply_to);
            (m.type() == "job.done" ? done : echoed).push_back(std::move(m));
        }
    });
    BOOST_TEST_REQUIRE(done.size() == 5U);
    BOOST_TEST_REQUIRE(echoed.size() == 5U);
    for (int n = 0; n < 5; ++n) {
        BOOST_TEST(done[n].at("n").as_int64() == n);
        BOOST_TEST(echoed[n].at("n").as_int64() == n);
    }
    BOOST_TEST(text_of(done[0], "channel") == "jobs");
    BOOST_TEST(text_of(done[0], "scope_type") == "channel");
    BOOST_TEST(done[0].at("on_io_thread").as_bool() == false); // blocking work off the I/O threads
}

BOOST_AUTO_TEST_CASE(a_workers_consumers_see_the_named_layers) {
    auto layer = std::make_shared<InMemoryChannelLayer>();
    auto side = std::make_shared<InMemoryChannelLayer>();
    Worker worker(ChannelNameRouter({{"asks", as_app<SideConsumer>()}}), {"asks"}, layer,
                  ChannelLayers{{"side", side}});
    int answered = -1;
    with_worker(worker, layer, [&](std::shared_ptr<InMemoryChannelLayer> l) -> awaitable<void> {
        auto const reply_to = co_await side->new_channel();
        auto question = job("ask", 7, reply_to);
        co_await l->send("asks", std::move(question));
        auto m = co_await side->receive(reply_to); // the answer came through "side"
        answered = static_cast<int>(m.at("n").as_int64());
    });
    BOOST_TEST(answered == 7);
}

BOOST_AUTO_TEST_CASE(a_message_without_handler_or_type_costs_that_message_only) {
    auto layer = std::make_shared<InMemoryChannelLayer>();
    auto ended = std::make_shared<std::atomic<int>>(0);
    Worker worker(ChannelNameRouter({{"jobs", counting_ends(as_app<JobConsumer>(), ended)}}),
                  {"jobs"}, layer);
    std::vector<Message> done;
    with_worker(worker, layer, [&](std::shared_ptr<InMemoryChannelLayer> l) -> awaitable<void> {
        auto const reply_to = co_await l->new_channel();
        auto no_handler = job("job_run", 1, reply_to); // '_' for '.': NoHandler, logged
        co_await l->send("jobs", std::move(no_handler));
        co_await wait_until([&] { return ended->load() == 1; }); // that instance failed
        Message no_type{{"n", 2}};
        co_await l->send("jobs", std::move(no_type)); // logged and dropped
        auto good = job("job.run", 3, reply_to);
        co_await l->send("jobs", std::move(good));
        done.push_back(co_await l->receive(reply_to));
    });
    BOOST_TEST_REQUIRE(done.size() == 1U);
    BOOST_TEST(done[0].at("n").as_int64() == 3);
    BOOST_TEST(ended->load() == 2); // the second instance ended at stop()
}

BOOST_AUTO_TEST_CASE(an_application_that_fails_is_replaced_at_the_next_message) {
    auto layer = std::make_shared<InMemoryChannelLayer>();
    auto starts = std::make_shared<std::atomic<int>>(0);
    auto seen = std::make_shared<std::vector<std::string>>();
    // A plain application: it receives the channel's messages as ChannelMessage events, and
    // fails by sending an event (a "channel" scope has no client).
    Application app = [starts, seen](Scope scope, Receive receive, Send send) -> awaitable<void> {
        ++*starts;
        for (;;) {
            Event event = co_await receive();
            auto const& message = std::get<ChannelMessage>(event).message;
            seen->push_back(scope.channel + ":" + std::string(message.type()));
            if (message.type() == "fail") {
                Event close = WebsocketClose{};
                co_await send(std::move(close));
            }
        }
    };
    Worker worker(app, {"plain"}, layer);
    with_worker(worker, layer, [&](std::shared_ptr<InMemoryChannelLayer> l) -> awaitable<void> {
        for (std::string const type : {"a", "fail", "b"}) {
            Message m{{"type", type}};
            co_await l->send("plain", std::move(m));
        }
        co_await wait_until([&] { return seen->size() >= 3; });
    });
    BOOST_TEST((*seen == std::vector<std::string>{"plain:a", "plain:fail", "plain:b"}));
    BOOST_TEST(starts->load() == 2);
}

BOOST_AUTO_TEST_CASE(channels_are_checked_before_it_starts) {
    auto layer = std::make_shared<InMemoryChannelLayer>();
    ChannelNameRouter router({{"jobs", as_app<JobConsumer>()}});
    auto says = [](std::string const& text) {
        return [text](std::invalid_argument const& e) { return message_contains(e, text); };
    };
    BOOST_CHECK_EXCEPTION(Worker(router, {"jobs", "thumbnails"}, layer), std::invalid_argument,
                          says("no application for channel 'thumbnails': the ChannelNameRouter "
                               "routes 'jobs'"));
    // Seen through a ProtocolTypeRouter, as Channels' runworker uses the project's application.
    ProtocolTypeRouter project({{"channel", router}});
    BOOST_CHECK_EXCEPTION(Worker(project, {"thumbnails"}, layer), std::invalid_argument,
                          says("no application for channel 'thumbnails'"));
    BOOST_CHECK_NO_THROW(Worker(project, {"jobs"}, layer));
    ProtocolTypeRouter no_channel({{"websocket", router}});
    BOOST_CHECK_EXCEPTION(Worker(no_channel, {"jobs"}, layer), std::invalid_argument,
                          says("without a \"channel\" entry"));
    BOOST_CHECK_EXCEPTION(Worker(router, {}, layer), std::invalid_argument,
                          says("no channel to listen on"));
    BOOST_CHECK_EXCEPTION(Worker(router, {"jobs"}, nullptr), std::invalid_argument,
                          says("no channel layer"));
    BOOST_CHECK_EXCEPTION(Worker(router, {"specific.x!y"}, layer), std::invalid_argument,
                          says("not a channel a worker can listen on"));
}

BOOST_AUTO_TEST_SUITE_END()
