// DeadlineSweep: many connections' deadlines looked at by one sweep, without a socket or a
// timer: who is told, once, and who is not.
#include "server/deadline_sweep.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <vector>

namespace {

using canal::detail::DeadlineSweep;
using namespace std::chrono_literals;

struct Probe : DeadlineSweep::Client {
    int told = 0;
    void deadline_passed() noexcept override { ++told; }
};

DeadlineSweep::Clock::time_point const t0 = DeadlineSweep::Clock::now();

} // namespace

BOOST_AUTO_TEST_SUITE(deadline_sweep)

BOOST_AUTO_TEST_CASE(a_passed_deadline_is_told_once_and_a_later_one_waits) {
    DeadlineSweep sweep;
    Probe due_now;
    Probe due_later;
    Probe none;
    for (auto* p : {&due_now, &due_later, &none}) {
        sweep.add(*p);
    }
    due_now.set_due(t0 + 10ms);
    due_later.set_due(t0 + 1s);
    BOOST_TEST(sweep.sweep(t0) == 0U);
    BOOST_TEST(sweep.sweep(t0 + 10ms) == 1U); // at the due time, not only after it
    BOOST_TEST(due_now.told == 1);
    BOOST_TEST(sweep.sweep(t0 + 500ms) == 0U); // cleared once told
    BOOST_TEST(due_now.told == 1);
    BOOST_TEST(due_later.told == 0);
    BOOST_TEST(sweep.sweep(t0 + 2s) == 1U);
    BOOST_TEST(due_later.told == 1);
    BOOST_TEST(none.told == 0);
}

BOOST_AUTO_TEST_CASE(a_deadline_set_again_replaces_the_earlier_and_a_cleared_one_is_not_told) {
    DeadlineSweep sweep;
    Probe moved;
    Probe cleared;
    sweep.add(moved);
    sweep.add(cleared);
    moved.set_due(t0 + 10ms);
    moved.set_due(t0 + 100ms);
    cleared.set_due(t0 + 10ms);
    cleared.clear_due();
    BOOST_TEST(sweep.sweep(t0 + 50ms) == 0U);
    BOOST_TEST(sweep.sweep(t0 + 100ms) == 1U);
    BOOST_TEST(moved.told == 1);
    BOOST_TEST(cleared.told == 0);
}

BOOST_AUTO_TEST_CASE(a_removed_client_is_not_told_and_the_others_still_are) {
    DeadlineSweep sweep;
    std::vector<Probe> probes(5);
    for (auto& p : probes) {
        sweep.add(p);
        sweep.add(p); // twice: looked at once
        p.set_due(t0);
    }
    BOOST_TEST(sweep.size() == 5U);
    sweep.remove(probes[1]); // from the middle: the last one takes its place
    sweep.remove(probes[1]); // twice: a no-op
    sweep.remove(probes[4]);
    BOOST_TEST(sweep.size() == 3U);
    BOOST_TEST(sweep.sweep(t0) == 3U);
    BOOST_TEST(probes[0].told == 1);
    BOOST_TEST(probes[1].told == 0);
    BOOST_TEST(probes[2].told == 1);
    BOOST_TEST(probes[3].told == 1);
    BOOST_TEST(probes[4].told == 0);
    // Added again, it is looked at again.
    sweep.add(probes[1]);
    probes[1].set_due(t0);
    BOOST_TEST(sweep.sweep(t0) == 1U);
    BOOST_TEST(probes[1].told == 1);
}

BOOST_AUTO_TEST_CASE(the_period_is_a_quarter_of_the_shortest_deadline_within_5ms_and_1s) {
    BOOST_TEST(DeadlineSweep::period_for(400ms).count() == 100);
    BOOST_TEST(DeadlineSweep::period_for(20s).count() == 1000);
    BOOST_TEST(DeadlineSweep::period_for(1ms).count() == 5);
}

BOOST_AUTO_TEST_SUITE_END()
