// sync_to_async and async_to_sync: where the work runs, values and exceptions across the
// bridges, nesting, the guard against blocking an I/O thread, and the handler pool's size
// and stand-in threads.
// Workaround: sync_to_async.hpp uses std::monostate without including <variant> (reported).
#include <variant>

#include <canal/sync/sync_to_async.hpp>

#include <canal/sync/async_to_sync.hpp>
#include <canal/sync/handler_pool.hpp>

#include "sync_test_helpers.hpp"

#include "integration/test_server.hpp"

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using canal::awaitable;
using canal::test::deadline;
using canal::test::Gate;
using canal::test::HandlerThreads;
using canal::test::in_thread;
using canal::test::InFlight;
using canal::test::IoThreads;
using canal::test::run_on;
namespace net = boost::asio;
using namespace std::chrono_literals;

/** An exception type of the application's own, with a payload beyond the message. */
class QuotaExceeded : public std::runtime_error {
public:
    QuotaExceeded(std::string const& what, int quota) : std::runtime_error(what), quota(quota) {}
    int quota;
};

/** Sleeps `ms` on the coroutine's executor, without blocking a thread. */
awaitable<void> pause(int ms) {
    net::steady_timer timer(co_await net::this_coro::executor);
    timer.expires_after(std::chrono::milliseconds(ms));
    co_await timer.async_wait(canal::use_awaitable);
}

/** Where a piece of code ran. */
struct Where {
    std::thread::id thread;
    bool on_strand = false;
};

using Strand = net::strand<net::any_io_executor>;

/** Records where it runs (after a real asynchronous wait) and returns `value`. */
awaitable<int> async_probe(Strand strand, Where* where, int value) {
    co_await pause(5);
    where->thread = std::this_thread::get_id();
    where->on_strand = strand.running_in_this_thread();
    co_return value;
}

awaitable<int> async_throw(std::string what, int quota) {
    co_await pause(5);
    throw QuotaExceeded(what, quota);
}

awaitable<void> async_set(std::atomic<bool>* flag) {
    co_await pause(5);
    flag->store(true);
}

bool mentions(std::exception const& e, std::string const& part) {
    return std::string(e.what()).find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(sync_to_async)

BOOST_AUTO_TEST_CASE(runs_on_a_pool_thread_and_resumes_on_the_callers_strand) {
    IoThreads io(2);
    Strand strand = net::make_strand(io.executor());
    struct Seen {
        Where before, work, after;
        int value = 0;
    };
    auto seen = run_on(strand, [strand]() -> awaitable<Seen> {
        Seen s;
        s.before = Where{std::this_thread::get_id(), strand.running_in_this_thread()};
        auto work = [&s] {
            s.work.thread = std::this_thread::get_id();
            return 42;
        };
        s.value = co_await canal::sync_to_async(std::move(work));
        s.after = Where{std::this_thread::get_id(), strand.running_in_this_thread()};
        co_return s;
    });
    BOOST_TEST(seen.value == 42);
    BOOST_TEST(seen.before.on_strand);
    BOOST_TEST(!io.is_io_thread(seen.work.thread), "f ran on an I/O thread");
    BOOST_TEST((seen.work.thread != std::this_thread::get_id()), "f ran on the test thread");
    BOOST_TEST(io.is_io_thread(seen.after.thread), "resumed off the caller's io_context");
    BOOST_TEST(seen.after.on_strand, "resumed outside the caller's strand");
}

BOOST_AUTO_TEST_CASE(passes_arguments_and_returns_values_of_any_type) {
    IoThreads io;
    auto add = [](int a, int b) { return a + b; };
    BOOST_TEST(run_on(io.executor(), [add]() -> awaitable<int> {
                   auto call = add;
                   co_return co_await canal::sync_to_async(std::move(call), 20, 22);
               }) == 42);

    auto shout = [](std::string s) { return s + "!"; };
    std::string word = "hello";
    BOOST_TEST(run_on(io.executor(), [shout, word]() -> awaitable<std::string> {
                   auto call = shout;
                   auto arg = word;
                   co_return co_await canal::sync_to_async(std::move(call), std::move(arg));
               }) == "hello!");

    // Move-only results and arguments. f gets the arguments as lvalues (stored copies), so a
    // move-only one is taken by reference.
    auto box = [](std::unique_ptr<int>& p) { return std::make_unique<int>(*p * 2); };
    auto boxed = run_on(io.executor(), [box]() -> awaitable<std::unique_ptr<int>> {
        auto p = std::make_unique<int>(21);
        auto call = box;
        co_return co_await canal::sync_to_async(std::move(call), std::move(p));
    });
    BOOST_TEST_REQUIRE(boxed != nullptr);
    BOOST_TEST(*boxed == 42);

    // void
    auto ran = std::make_shared<std::atomic<bool>>(false);
    run_on(io.executor(), [ran]() -> awaitable<void> {
        auto set = [ran] { ran->store(true); };
        co_await canal::sync_to_async(std::move(set));
    });
    BOOST_TEST(ran->load());
}

BOOST_AUTO_TEST_CASE(rethrows_the_exception_with_its_type_and_message) {
    IoThreads io;
    auto fail = [] { throw QuotaExceeded("quota of 7 exceeded", 7); };
    try {
        run_on(io.executor(), [fail]() -> awaitable<void> {
            auto call = fail;
            co_await canal::sync_to_async(std::move(call));
        });
        BOOST_FAIL("no exception");
    } catch (QuotaExceeded const& e) {
        BOOST_TEST(std::string(e.what()) == "quota of 7 exceeded");
        BOOST_TEST(e.quota == 7);
    }

    // Caught inside the coroutine, as its own type; a non-std exception too.
    auto outcome = run_on(io.executor(), []() -> awaitable<std::string> {
        std::string out;
        auto deny = []() -> int { throw canal::DenyConnection("not on the list"); };
        try {
            co_await canal::sync_to_async(std::move(deny));
        } catch (canal::DenyConnection const& e) {
            out += std::string("deny:") + e.what();
        }
        auto odd = []() -> int { throw 13; };
        try {
            co_await canal::sync_to_async(std::move(odd));
        } catch (int n) {
            out += " int:" + std::to_string(n);
        }
        co_return out;
    });
    BOOST_TEST(outcome == "deny:not on the list int:13");
}

BOOST_AUTO_TEST_CASE(many_coroutines_call_it_at_once) {
    IoThreads io(2);
    int const n = 64;
    auto results = std::make_shared<std::vector<int>>(n, -1);
    run_on(io.executor(), [results, n, ex = io.executor()]() -> awaitable<void> {
        auto remaining = std::make_shared<std::atomic<int>>(n);
        auto all_done = std::make_shared<std::promise<void>>();
        for (int i = 0; i < n; ++i) {
            auto one = [i, results]() -> awaitable<void> {
                auto square = [](int x) { return x * x; };
                (*results)[i] = co_await canal::sync_to_async(std::move(square), i);
            };
            net::co_spawn(ex, std::move(one), [remaining, all_done](std::exception_ptr e) {
                if (e) {
                    all_done->set_exception(e);
                } else if (--*remaining == 0) {
                    all_done->set_value();
                }
            });
        }
        auto fut = all_done->get_future();
        // Poll on the executor: this coroutine must not block the threads the others need.
        for (int waited = 0; fut.wait_for(0s) != std::future_status::ready; waited += 2) {
            if (waited > 10'000) {
                throw std::runtime_error("the calls did not all complete");
            }
            co_await pause(2);
        }
        fut.get();
    });
    for (int i = 0; i < n; ++i) {
        BOOST_TEST((*results)[i] == i * i, "call " << i);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(async_to_sync)

BOOST_AUTO_TEST_CASE(from_pool_work_runs_on_the_callers_executor_and_returns_the_value) {
    IoThreads io(2);
    Strand strand = net::make_strand(io.executor());
    struct Seen {
        Where work, awaited;
        int value = 0;
        bool void_ran = false;
    };
    auto seen = run_on(strand, [strand]() -> awaitable<Seen> {
        Seen s;
        auto work = [&s, strand] {
            s.work.thread = std::this_thread::get_id();
            s.value = canal::async_to_sync([&] { return async_probe(strand, &s.awaited, 5); });
            std::atomic<bool> flag{false};
            canal::async_to_sync([&] { return async_set(&flag); });
            s.void_ran = flag.load();
        };
        co_await canal::sync_to_async(std::move(work));
        co_return s;
    });
    BOOST_TEST(seen.value == 5);
    BOOST_TEST(seen.void_ran);
    BOOST_TEST(!io.is_io_thread(seen.work.thread));
    BOOST_TEST(io.is_io_thread(seen.awaited.thread), "the awaitable ran off the caller's context");
    BOOST_TEST(seen.awaited.on_strand, "the awaitable ran outside the caller's strand");
}

BOOST_AUTO_TEST_CASE(rethrows_the_awaitables_exception_with_its_type_and_message) {
    IoThreads io;
    auto seen_inside = std::make_shared<std::string>();
    auto work = [seen_inside] {
        try {
            canal::async_to_sync([] { return async_throw("inner quota", 3); });
        } catch (QuotaExceeded const& e) {
            *seen_inside = std::string(e.what()) + "/" + std::to_string(e.quota);
        }
        // And uncaught: through async_to_sync, then back through sync_to_async.
        canal::async_to_sync([] { return async_throw("outer quota", 4); });
    };
    try {
        run_on(io.executor(), [work]() -> awaitable<void> {
            auto call = work;
            co_await canal::sync_to_async(std::move(call));
        });
        BOOST_FAIL("no exception");
    } catch (QuotaExceeded const& e) {
        BOOST_TEST(std::string(e.what()) == "outer quota");
        BOOST_TEST(e.quota == 4);
    }
    BOOST_TEST(*seen_inside == "inner quota/3");
}

BOOST_AUTO_TEST_CASE(with_an_explicit_executor_from_a_plain_thread) {
    IoThreads io;
    Strand strand = net::make_strand(io.executor());
    Where where;
    int value = in_thread([&] {
        return canal::async_to_sync(strand, [&] { return async_probe(strand, &where, 11); });
    });
    BOOST_TEST(value == 11);
    BOOST_TEST(io.is_io_thread(where.thread));
    BOOST_TEST(where.on_strand);

    std::atomic<bool> flag{false};
    in_thread([&] { canal::async_to_sync(io.executor(), [&] { return async_set(&flag); }); });
    BOOST_TEST(flag.load());

    BOOST_CHECK_EXCEPTION(
        in_thread([&] {
            return canal::async_to_sync(io.executor(), [] { return async_throw("plain", 9); });
        }),
        QuotaExceeded, [](QuotaExceeded const& e) { return e.quota == 9 && mentions(e, "plain"); });
}

BOOST_AUTO_TEST_CASE(from_a_plain_thread_without_an_executor_throws) {
    std::atomic<bool> called{false};
    auto make = [&called] {
        called = true;
        return pause(1);
    };
    auto is_clear = [](canal::Error const& e) {
        return mentions(e, "no I/O executor") && mentions(e, "async_to_sync(executor, f)");
    };
    BOOST_CHECK_EXCEPTION(in_thread([&] { canal::async_to_sync(make); }), canal::Error, is_clear);
    BOOST_CHECK_EXCEPTION(canal::async_to_sync(make), canal::Error, is_clear);
    BOOST_TEST(!called.load(), "the awaitable was built anyway");

    // The executor sync_to_async work may use is its own thread's: a thread it starts has none.
    IoThreads io;
    auto from_work = [make] {
        std::string outcome = "no error";
        auto in_new_thread = [make, &outcome] {
            try {
                canal::async_to_sync(make);
            } catch (canal::Error const& e) {
                outcome = e.what();
            }
        };
        std::thread t(in_new_thread);
        t.join();
        return outcome;
    };
    auto outcome = run_on(io.executor(), [from_work]() -> awaitable<std::string> {
        auto call = from_work;
        co_return co_await canal::sync_to_async(std::move(call));
    });
    BOOST_TEST(outcome.find("no I/O executor") != std::string::npos, outcome);
    BOOST_TEST(!called.load());
}

namespace {

/**
 * Calls async_to_sync from its coroutine handlers, on the I/O thread: "implicit" without an
 * executor, "explicit" with its own. Answers "error:<what>" when it throws canal::Error,
 * "ran" if the awaitable ran, "no-error" if async_to_sync returned.
 */
class BlockingAsyncConsumer : public canal::AsyncWebsocketConsumer {
protected:
    awaitable<void> receive(std::string text) override {
        std::string answer;
        bool ran = false;
        auto make = [&ran] {
            ran = true;
            return pause(1);
        };
        try {
            if (text == "implicit") {
                canal::async_to_sync(make);
            } else {
                canal::async_to_sync(executor(), make);
            }
            answer = "no-error";
        } catch (canal::Error const& e) {
            answer = std::string("error:") + e.what();
        }
        if (ran) {
            answer += " ran";
        }
        co_await send(std::move(answer));
    }
};

bool is_io_thread_error(std::string const& answer) {
    return answer.starts_with("error:") && answer.find("I/O thread") != std::string::npos &&
           answer.find(" ran") == std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_CASE(in_a_communicators_coroutine_throws_instead_of_deadlocking) {
    canal::WebsocketCommunicator comm(canal::as_app<BlockingAsyncConsumer>(), "/ws/block/");
    BOOST_TEST_REQUIRE(comm.connect().accepted);
    comm.send_to("implicit");
    auto implicit = comm.receive_from(deadline);
    BOOST_TEST(is_io_thread_error(implicit), implicit);
    comm.send_to("explicit");
    auto explicit_ex = comm.receive_from(deadline);
    BOOST_TEST(is_io_thread_error(explicit_ex), explicit_ex);
    comm.disconnect();
}

BOOST_AUTO_TEST_CASE(on_a_server_thread_throws_instead_of_deadlocking) {
    canal::URLRouter ws{{canal::path("ws/block/", canal::as_app<BlockingAsyncConsumer>())}};
    std::map<std::string, canal::Application, std::less<>> apps;
    apps.emplace("websocket", std::move(ws));
    canal::test::TestServer server(canal::ProtocolTypeRouter{std::move(apps)});
    auto c = server.ws("/ws/block/");
    BOOST_TEST_REQUIRE(c.ws != nullptr, c.error);
    for (std::string mode : {"implicit", "explicit", "implicit"}) {
        BOOST_TEST_REQUIRE(c.ws->send_text(mode), c.ws->last_error());
        auto frame = c.ws->read();
        BOOST_TEST_REQUIRE((frame.kind == canal::test::WsFrame::Kind::text), frame.describe());
        BOOST_TEST(is_io_thread_error(frame.data), mode << ": " << frame.data);
    }
    BOOST_TEST(c.ws->close());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nesting_and_pool)

namespace {

struct Levels {
    Where l1, l2, l3, l4;
};

awaitable<int> level2(Strand strand, Levels* seen, bool fail);

/** Level 1 and 3: blocking code on the pool; level 2 and 4: coroutines on the caller's strand. */
int level3(Strand strand, Levels* seen, bool fail) {
    seen->l3 = Where{std::this_thread::get_id(), strand.running_in_this_thread()};
    return canal::async_to_sync([&] {
        return fail ? async_throw("level 4 failed", 4) : async_probe(strand, &seen->l4, 4);
    });
}

awaitable<int> level2(Strand strand, Levels* seen, bool fail) {
    co_await pause(1);
    seen->l2 = Where{std::this_thread::get_id(), strand.running_in_this_thread()};
    auto call = [strand, seen, fail] { return level3(strand, seen, fail); };
    int v = co_await canal::sync_to_async(std::move(call));
    co_return v + 20;
}

int level1(Strand strand, Levels* seen, bool fail) {
    seen->l1 = Where{std::this_thread::get_id(), strand.running_in_this_thread()};
    return canal::async_to_sync([&] { return level2(strand, seen, fail); }) + 100;
}

} // namespace

BOOST_AUTO_TEST_CASE(sync_async_sync_async_nesting) {
    IoThreads io(2);
    Strand strand = net::make_strand(io.executor());
    auto seen = std::make_shared<Levels>();
    int value = run_on(strand, [strand, seen]() -> awaitable<int> {
        auto call = [strand, seen] { return level1(strand, seen.get(), false); };
        co_return co_await canal::sync_to_async(std::move(call));
    });
    BOOST_TEST(value == 124);
    BOOST_TEST(!io.is_io_thread(seen->l1.thread));
    BOOST_TEST(!seen->l1.on_strand);
    BOOST_TEST(io.is_io_thread(seen->l2.thread));
    BOOST_TEST(seen->l2.on_strand);
    BOOST_TEST(!io.is_io_thread(seen->l3.thread));
    BOOST_TEST(!seen->l3.on_strand);
    BOOST_TEST(io.is_io_thread(seen->l4.thread));
    BOOST_TEST(seen->l4.on_strand);
    // Level 3 waits for level 4 while level 1 waits for level 2: two different pool threads.
    BOOST_TEST((seen->l1.thread != seen->l3.thread));

    // An exception at the bottom comes up through all four levels with its type.
    BOOST_CHECK_EXCEPTION(
        run_on(strand,
               [strand, seen]() -> awaitable<int> {
                   auto call = [strand, seen] { return level1(strand, seen.get(), true); };
                   co_return co_await canal::sync_to_async(std::move(call));
               }),
        QuotaExceeded,
        [](QuotaExceeded const& e) { return e.quota == 4 && mentions(e, "level 4 failed"); });
}

BOOST_AUTO_TEST_CASE(eight_nested_calls_on_two_threads_all_complete) {
    HandlerThreads two(2);
    IoThreads io(1);
    constexpr int n = 8;
    // Every pool task blocks in async_to_sync, and every awaitable waits (asynchronously)
    // until all n tasks are blocked before it needs the pool again: all n outer tasks and
    // then n inner ones must find threads although only 2 are configured.
    auto blocked = std::make_shared<std::atomic<int>>(0);
    auto inner_threads = std::make_shared<std::vector<std::thread::id>>(n);
    auto outer = [blocked, inner_threads](int i) {
        auto middle = [blocked, inner_threads, i]() -> awaitable<int> {
            for (int waited = 0; blocked->load() < n; waited += 2) {
                if (waited > 5000) {
                    throw std::runtime_error("only " + std::to_string(blocked->load()) + " of " +
                                             std::to_string(n) + " tasks got a thread");
                }
                co_await pause(2);
            }
            auto inner = [inner_threads, i] {
                (*inner_threads)[i] = std::this_thread::get_id();
                return i * i;
            };
            co_return co_await canal::sync_to_async(std::move(inner));
        };
        ++*blocked;
        return canal::async_to_sync(middle) + 1;
    };
    std::vector<std::future<int>> results;
    for (int i = 0; i < n; ++i) {
        results.push_back(net::co_spawn(
            io.executor(),
            [outer, i]() -> awaitable<int> {
                auto call = outer;
                co_return co_await canal::sync_to_async(std::move(call), i);
            },
            net::use_future));
    }
    for (int i = 0; i < n; ++i) {
        BOOST_TEST_REQUIRE((results[i].wait_for(deadline) == std::future_status::ready),
                           "nested call " << i << " did not complete");
        BOOST_TEST(results[i].get() == i * i + 1);
        BOOST_TEST(!io.is_io_thread((*inner_threads)[i]));
    }
    BOOST_TEST(blocked->load() == n);
}

BOOST_AUTO_TEST_CASE(work_waits_its_turn) {
    HandlerThreads two(2);
    canal::test::settle_pool();
    IoThreads io(1);
    constexpr int n = 10;
    auto in_flight = std::make_shared<InFlight>();
    auto done = std::make_shared<std::atomic<int>>(0);
    auto nap = [in_flight, done] {
        in_flight->enter();
        std::this_thread::sleep_for(20ms);
        in_flight->leave();
        ++*done;
    };
    std::vector<std::future<void>> results;
    auto const start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        results.push_back(net::co_spawn(
            io.executor(),
            [nap]() -> awaitable<void> {
                auto call = nap;
                co_await canal::sync_to_async(std::move(call));
            },
            net::use_future));
    }
    for (auto& r : results) {
        BOOST_TEST_REQUIRE((r.wait_for(deadline) == std::future_status::ready));
        r.get();
    }
    auto const took = std::chrono::steady_clock::now() - start;
    BOOST_TEST(done->load() == n);
    BOOST_TEST_MESSAGE("10 x 20 ms on 2 handler threads: at most "
                       << in_flight->max() << " at once, "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                       << " ms");
    BOOST_TEST(in_flight->max() <= 2, "ran " << in_flight->max() << " at once on 2 threads");
    BOOST_TEST(in_flight->max() >= 1);
}

BOOST_AUTO_TEST_CASE(tasks_blocked_on_a_latch_do_not_stop_later_tasks_once_released) {
    HandlerThreads two(2);
    IoThreads io(1);
    auto gate = std::make_shared<Gate>();
    auto started = std::make_shared<std::atomic<int>>(0);
    auto later_ran = std::make_shared<std::atomic<bool>>(false);
    auto wait_gate = [gate, started] {
        ++*started;
        if (!gate->wait()) {
            throw std::runtime_error("the gate never opened");
        }
        return std::this_thread::get_id();
    };
    auto later = [later_ran] { later_ran->store(true); };
    canal::test::OpenOnExit open_gate(gate);

    auto call_wait = [wait_gate]() -> awaitable<std::thread::id> {
        auto call = wait_gate;
        co_return co_await canal::sync_to_async(std::move(call));
    };
    auto a = net::co_spawn(io.executor(), call_wait, net::use_future);
    auto b = net::co_spawn(io.executor(), call_wait, net::use_future);
    BOOST_TEST_REQUIRE(canal::test::wait_until([&] { return started->load() == 2; }, 3s),
                       "two blocking tasks did not start on two threads");
    auto c = net::co_spawn(
        io.executor(),
        [later]() -> awaitable<void> {
            auto call = later;
            co_await canal::sync_to_async(std::move(call));
        },
        net::use_future);
    std::this_thread::sleep_for(50ms);
    BOOST_TEST_MESSAGE(
        "a third task ran while both handler threads were blocked: " << later_ran->load());
    gate->open();
    BOOST_TEST_REQUIRE((a.wait_for(deadline) == std::future_status::ready));
    BOOST_TEST_REQUIRE((b.wait_for(deadline) == std::future_status::ready));
    BOOST_TEST_REQUIRE((c.wait_for(deadline) == std::future_status::ready));
    BOOST_TEST((a.get() != b.get()), "both blocking tasks ran on one thread");
    c.get();
    BOOST_TEST(later_ran->load());
}

BOOST_AUTO_TEST_CASE(tasks_posted_together_each_get_a_thread_while_the_pool_has_room) {
    // One idle thread and room for four: four blocking tasks posted back to back must all
    // start; none may wait behind another for the one idle thread while the pool could
    // start more.
    {
        HandlerThreads one(1);
        canal::test::settle_pool();
    }
    HandlerThreads four(4);
    IoThreads io(1);
    constexpr int n = 4;
    auto gate = std::make_shared<Gate>();
    auto started = std::make_shared<std::atomic<int>>(0);
    auto wait_gate = [gate, started] {
        ++*started;
        if (!gate->wait()) {
            throw std::runtime_error("the gate never opened");
        }
    };
    std::vector<std::future<void>> results;
    for (int i = 0; i < n; ++i) {
        results.push_back(net::co_spawn(
            io.executor(),
            [wait_gate]() -> awaitable<void> {
                auto call = wait_gate;
                co_await canal::sync_to_async(std::move(call));
            },
            net::use_future));
    }
    bool const all_started = canal::test::wait_until([&] { return started->load() == n; }, 2s);
    BOOST_TEST(all_started, "only " << started->load() << " of " << n
                                    << " blocking tasks started on a pool of " << n);
    gate->open();
    for (auto& r : results) {
        BOOST_TEST_REQUIRE((r.wait_for(deadline) == std::future_status::ready));
        r.get();
    }
}

// Each io_context (a Server's) has its own pool and size: one io_context's handlers all
// blocked do not hold up another's, and a pool given one thread runs one task at a time.
BOOST_AUTO_TEST_CASE(each_io_context_has_its_own_pool) {
    canal::net::io_context one;
    canal::net::io_context other;
    canal::detail::set_pool_threads(one, 1);
    auto gate = std::make_shared<Gate>();
    auto first_started = std::make_shared<Gate>();
    auto second_ran = std::make_shared<std::atomic<bool>>(false);
    auto other_ran = std::make_shared<Gate>();
    canal::detail::post_to_handler_pool(one.get_executor(), [gate, first_started] {
        first_started->open();
        gate->wait();
    });
    canal::detail::post_to_handler_pool(one.get_executor(),
                                        [second_ran] { second_ran->store(true); });
    BOOST_TEST_REQUIRE(first_started->wait());
    canal::detail::post_to_handler_pool(other.get_executor(), [other_ran] { other_ran->open(); });
    BOOST_TEST(other_ran->wait(), "the other io_context's pool ran its task");
    std::this_thread::sleep_for(100ms);
    BOOST_TEST(!second_ran->load(), "a pool of one thread ran two tasks at once");
    gate->open();
    BOOST_TEST(canal::test::wait_until([&] { return second_ran->load(); }, 2s));
}

BOOST_AUTO_TEST_CASE(the_pool_size_is_configurable) {
    unsigned const before = canal::handler_threads();
    {
        HandlerThreads three(3);
        BOOST_TEST(canal::handler_threads() == 3U);
    }
    BOOST_TEST(canal::handler_threads() == before);
    canal::set_handler_threads(0);
    unsigned const cores = std::thread::hardware_concurrency();
    BOOST_TEST(canal::handler_threads() == std::max(4U, 2 * cores));
    canal::set_handler_threads(before);
}

BOOST_AUTO_TEST_SUITE_END()
