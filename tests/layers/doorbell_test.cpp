// Tests of Doorbell, the inbox's wait without a timer: a waiter woken by ring() (posted, not
// inline), a ring with nobody waiting, cancellation, and a waiter still parked when its
// io_context goes away.
#include "detail/doorbell.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>
#include <boost/test/unit_test.hpp>

#include <memory>

namespace {

namespace net = canal::net;
using canal::awaitable;
using canal::detail::Doorbell;

struct Outcome {
    bool woke = false;
    bool next_await_threw = false;
};

awaitable<void> wait_once(Doorbell& bell, std::shared_ptr<Outcome> out) {
    co_await bell.wait();
    out->woke = true;
    try {
        co_await net::post(net::use_awaitable); // throws when the waiter was cancelled
    } catch (boost::system::system_error const& e) {
        out->next_await_threw = e.code() == net::error::operation_aborted;
    }
}

// Sets `*destroyed` when the coroutine's frame goes, however it ends.
struct Sentinel {
    std::shared_ptr<bool> destroyed;
    ~Sentinel() { *destroyed = true; }
};

awaitable<void> wait_with_sentinel(std::shared_ptr<Doorbell> bell,
                                   std::shared_ptr<bool> destroyed) {
    Sentinel sentinel{std::move(destroyed)};
    co_await bell->wait();
}

} // namespace

BOOST_AUTO_TEST_SUITE(doorbell)

BOOST_AUTO_TEST_CASE(a_waiter_wakes_at_the_ring_after_it_and_not_inside_it) {
    net::io_context ioc;
    Doorbell bell(ioc.get_executor());
    auto out = std::make_shared<Outcome>();
    bell.ring(); // nobody waits: not kept
    net::co_spawn(ioc, wait_once(bell, out), net::detached);
    ioc.poll();
    BOOST_TEST(bell.waiting());
    BOOST_TEST(!out->woke);
    bell.ring();
    BOOST_TEST(!bell.waiting());
    BOOST_TEST(!out->woke); // posted, not run inside ring()
    ioc.poll();
    BOOST_TEST(out->woke);
    BOOST_TEST(!out->next_await_threw);
}

BOOST_AUTO_TEST_CASE(terminal_cancellation_ends_the_wait_and_the_next_await_throws) {
    net::io_context ioc;
    Doorbell bell(ioc.get_executor());
    auto out = std::make_shared<Outcome>();
    net::cancellation_signal stop;
    net::co_spawn(ioc, wait_once(bell, out),
                  net::bind_cancellation_slot(stop.slot(), [](std::exception_ptr) {}));
    ioc.poll();
    BOOST_REQUIRE(bell.waiting());
    stop.emit(net::cancellation_type::terminal);
    ioc.poll();
    BOOST_TEST(out->woke);
    BOOST_TEST(out->next_await_threw);
    BOOST_TEST(!bell.waiting());
}

BOOST_AUTO_TEST_CASE(a_waiter_still_parked_goes_with_its_io_context) {
    auto destroyed = std::make_shared<bool>(false);
    {
        net::io_context ioc;
        // Owned by the waiting coroutine only: nothing but the context can end it.
        auto bell = std::make_shared<Doorbell>(ioc.get_executor());
        net::co_spawn(ioc, wait_with_sentinel(bell, destroyed), net::detached);
        bell.reset();
        ioc.poll();
        BOOST_TEST(!*destroyed);
    }
    BOOST_TEST(*destroyed); // not leaked (ASan would say so as well)
}

BOOST_AUTO_TEST_SUITE_END()
