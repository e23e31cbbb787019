// Tests of the local channels' Wakeup: a callback stored until a notification (from any
// thread) posts it to the receiver's executor, or a coroutine's wait.
#include "layers/wakeup.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

namespace {

namespace net = canal::net;
using canal::awaitable;
using canal::detail::Wakeup;

awaitable<void> wait_once(std::shared_ptr<Wakeup> wakeup, std::shared_ptr<bool> woke) {
    auto [ec] = co_await wakeup->wait();
    *woke = !ec;
}

} // namespace

BOOST_AUTO_TEST_SUITE(wakeup)

BOOST_AUTO_TEST_CASE(a_notification_before_the_callback_is_kept_for_it_once) {
    net::io_context ioc;
    Wakeup wakeup(ioc.get_executor());
    wakeup.notify();
    wakeup.notify(); // coalesced with the first
    int runs = 0;
    BOOST_TEST(wakeup.async_wait([&runs] { ++runs; }));
    BOOST_TEST(runs == 0); // posted, not run inline
    ioc.poll();
    BOOST_TEST(runs == 1);
    BOOST_TEST(wakeup.async_wait([&runs] { ++runs; }));
    ioc.restart();
    ioc.poll();
    BOOST_TEST(runs == 1); // nothing pending: armed, not run
    wakeup.notify();
    ioc.restart();
    ioc.poll();
    BOOST_TEST(runs == 2);
    wakeup.retire();
}

BOOST_AUTO_TEST_CASE(each_notification_from_another_thread_runs_the_rearmed_callback) {
    // Ping-pong: the other thread notifies once the callback is armed again; every
    // notification must run the callback once, on the receiver's thread.
    constexpr int rounds = 2000;
    net::io_context ioc;
    auto work = net::make_work_guard(ioc);
    Wakeup wakeup(ioc.get_executor());
    std::atomic<int> armed{0};
    int runs = 0;
    bool on_receiver_thread = true;
    auto const receiver = std::this_thread::get_id();
    std::function<void()> callback = [&] {
        ++runs;
        on_receiver_thread = on_receiver_thread && std::this_thread::get_id() == receiver;
        if (runs == rounds) {
            work.reset();
            return;
        }
        BOOST_REQUIRE(wakeup.async_wait(callback));
        armed.store(runs + 1, std::memory_order_release);
    };
    BOOST_REQUIRE(wakeup.async_wait(callback));
    armed.store(1, std::memory_order_release);
    std::thread notifier([&] {
        for (int i = 1; i <= rounds; ++i) {
            while (armed.load(std::memory_order_acquire) < i) {
                std::this_thread::yield();
            }
            wakeup.notify();
        }
    });
    ioc.run();
    notifier.join();
    BOOST_TEST(runs == rounds);
    BOOST_TEST(on_receiver_thread);
    wakeup.retire();
}

BOOST_AUTO_TEST_CASE(a_retired_wakeup_drops_its_callback_and_ignores_notifications) {
    net::io_context ioc;
    Wakeup wakeup(ioc.get_executor());
    auto owned = std::make_shared<int>(0);
    std::weak_ptr<int> watched = owned;
    BOOST_TEST(wakeup.async_wait([owned] { ++*owned; }));
    owned.reset();
    BOOST_TEST(!watched.expired()); // the armed callback holds what it captured
    wakeup.retire();
    BOOST_TEST(watched.expired()); // and lets go of it at retire()
    wakeup.notify();
    BOOST_TEST(ioc.poll() == 0U);
    BOOST_TEST(!wakeup.async_wait([] {}));
}

BOOST_AUTO_TEST_CASE(a_coroutine_gets_a_notification_sent_before_it_waited) {
    net::io_context ioc;
    auto wakeup = std::make_shared<Wakeup>(ioc.get_executor());
    wakeup->notify();
    auto woke = std::make_shared<bool>(false);
    net::co_spawn(ioc, wait_once(wakeup, woke), net::detached);
    ioc.run();
    BOOST_TEST(*woke);
    wakeup->retire();
}

BOOST_AUTO_TEST_CASE(a_coroutine_waits_for_a_notification_from_another_thread) {
    net::io_context ioc;
    auto wakeup = std::make_shared<Wakeup>(ioc.get_executor());
    auto woke = std::make_shared<bool>(false);
    net::co_spawn(ioc, wait_once(wakeup, woke), net::detached);
    ioc.poll(); // waiting now (the channel is made by the first wait)
    BOOST_TEST(!*woke);
    std::thread notifier([wakeup] { wakeup->notify(); });
    ioc.restart();
    ioc.run();
    notifier.join();
    BOOST_TEST(*woke);
    wakeup->retire();
}

BOOST_AUTO_TEST_SUITE_END()
