// The Redis layer's group_send plan without Redis: buckets per key and shard, the scripts'
// arguments and the reading of their answers.
#include "layers/redis_group_send.hpp"
#include "layers/redis_wire.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <utility>
#include <vector>

using canal::detail::buckets_by_shard;
using canal::detail::CapacityTable;
using canal::detail::consistent_hash;
using canal::detail::full_positions;
using canal::detail::group_send_args;
using canal::detail::GroupSendRetry;
using canal::detail::PendingRetries;
using canal::detail::parse_one_trip;
using canal::detail::plan_group_send;
using canal::detail::script_clock;
using canal::redis::Reply;

namespace {

Reply integer(long long v) {
    Reply r;
    r.kind = Reply::Kind::integer;
    r.integer = v;
    return r;
}

Reply string(std::string s) {
    Reply r;
    r.kind = Reply::Kind::string;
    r.str = std::move(s);
    return r;
}

Reply array(std::vector<Reply> elements) {
    Reply r;
    r.kind = Reply::Kind::array;
    r.elements = std::move(elements);
    return r;
}

std::vector<std::string> const members{
    "specific.aaa!one", "specific.bbb!one", "specific.aaa!two",
    "plain-channel",    "specific.bbb!two", "specific.aaa!three",
};

} // namespace

BOOST_AUTO_TEST_SUITE(group_send_plan)

BOOST_AUTO_TEST_CASE(members_are_bucketed_per_redis_key_in_order_of_first_appearance) {
    CapacityTable const capacities({}, 100);
    auto const buckets = plan_group_send(members, "asgi", capacities, 1);
    BOOST_TEST_REQUIRE(buckets.size() == 3U);
    BOOST_TEST(buckets[0].key == "asgispecific.aaa!");
    BOOST_TEST(buckets[1].key == "asgispecific.bbb!");
    BOOST_TEST(buckets[2].key == "asgiplain-channel");
    std::vector<std::string> const aaa{"specific.aaa!one", "specific.aaa!two",
                                       "specific.aaa!three"};
    std::vector<std::string> const bbb{"specific.bbb!one", "specific.bbb!two"};
    BOOST_TEST(buckets[0].channels == aaa, boost::test_tools::per_element());
    BOOST_TEST(buckets[1].channels == bbb, boost::test_tools::per_element());
    BOOST_TEST(buckets[2].channels.size() == 1U);
    for (auto const& b : buckets) {
        BOOST_TEST(b.capacity == 100U);
        BOOST_TEST(b.shard == 0U);
    }
}

BOOST_AUTO_TEST_CASE(a_key_takes_the_capacity_of_its_first_channel_and_the_shard_of_its_name) {
    CapacityTable const capacities({{"specific.bbb!*", 7}, {"plain-*", 3}}, 100);
    auto const buckets = plan_group_send(members, "asgi", capacities, 5);
    BOOST_TEST_REQUIRE(buckets.size() == 3U);
    BOOST_TEST(buckets[0].capacity == 100U);
    BOOST_TEST(buckets[1].capacity == 7U);
    BOOST_TEST(buckets[2].capacity == 3U);
    // The shard of the non-local name (where that process's receive loop listens).
    BOOST_TEST(buckets[0].shard == consistent_hash("specific.aaa!", 5));
    BOOST_TEST(buckets[1].shard == consistent_hash("specific.bbb!", 5));
    BOOST_TEST(buckets[2].shard == consistent_hash("plain-channel", 5));
}

BOOST_AUTO_TEST_CASE(an_empty_group_plans_nothing) {
    CapacityTable const capacities({}, 100);
    BOOST_TEST(plan_group_send({}, "asgi", capacities, 3).empty());
    BOOST_TEST(buckets_by_shard({}).empty());
}

BOOST_AUTO_TEST_CASE(buckets_are_split_by_shard_in_shard_order) {
    std::vector<canal::detail::GroupSendBucket> buckets(4);
    buckets[0].shard = 2;
    buckets[1].shard = 0;
    buckets[2].shard = 2;
    buckets[3].shard = 0;
    auto const by_shard = buckets_by_shard(buckets);
    BOOST_TEST_REQUIRE(by_shard.size() == 2U);
    BOOST_TEST(by_shard[0].first == 0U);
    BOOST_TEST(by_shard[1].first == 2U);
    std::vector<std::size_t> const zero{1, 3};
    std::vector<std::size_t> const two{0, 2};
    BOOST_TEST(by_shard[0].second == zero, boost::test_tools::per_element());
    BOOST_TEST(by_shard[1].second == two, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_clock_is_in_whole_seconds_of_at_least_one) {
    auto const c = script_clock(1000.25, std::chrono::seconds(60));
    BOOST_TEST(c.now == "1000.250000");
    BOOST_TEST(c.expiry == 60);
    BOOST_TEST(c.cutoff == 940);
    auto const short_one = script_clock(1000.25, std::chrono::milliseconds(300));
    BOOST_TEST(short_one.expiry == 1);
    BOOST_TEST(short_one.cutoff == 999);
}

BOOST_AUTO_TEST_CASE(the_group_send_script_gets_payloads_then_capacities_then_the_clock) {
    auto const clock = script_clock(50.5, std::chrono::seconds(10));
    std::vector<std::size_t> const capacities{100, 7};
    auto const args = group_send_args({"p1", "p2"}, capacities, clock);
    std::vector<std::string> const expected{"p1", "p2", "100", "7", "50.500000", "10", "40"};
    BOOST_TEST(args == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(full_positions_keep_only_positions_among_the_keys) {
    auto const reply =
        array({integer(2), integer(0), integer(4), string("x"), integer(2), integer(1)});
    std::vector<std::size_t> const expected{1, 0};
    auto const got = full_positions(reply, 3);
    BOOST_TEST(got == expected, boost::test_tools::per_element());
    BOOST_TEST(full_positions(array({}), 3).empty());
    BOOST_TEST(full_positions(string("ERR something"), 3).empty());
}

BOOST_AUTO_TEST_CASE(the_one_trip_answer_lists_the_full_keys_then_the_added_ones) {
    auto const answer =
        parse_one_trip(array({integer(500), integer(250), integer(1), string("asgi:k1!"),
                              string("\x92\xa1"
                                     "a\xa1"
                                     "b"),
                              integer(250), string("asgi:k2!"), string("asgi:k3!")}));
    BOOST_TEST(answer.members == 500U);
    BOOST_TEST(answer.skipped == 250U);
    BOOST_TEST_REQUIRE(answer.full.size() == 1U);
    BOOST_TEST(answer.full[0].key == "asgi:k1!");
    BOOST_TEST(answer.full[0].packed_channels.size() == 5U);
    BOOST_TEST(answer.full[0].channels == 250U);
    std::vector<std::string> const added{"asgi:k2!", "asgi:k3!"};
    BOOST_TEST(answer.added == added, boost::test_tools::per_element());

    auto const none_full = parse_one_trip(array({integer(3), integer(0), integer(0),
                                                 string("asgi:k1!")}));
    BOOST_TEST(none_full.members == 3U);
    BOOST_TEST(none_full.full.empty());
    BOOST_TEST_REQUIRE(none_full.added.size() == 1U);
    BOOST_TEST(none_full.added[0] == "asgi:k1!");

    // An error reply or a truncated answer reads as nothing to try again.
    BOOST_TEST(parse_one_trip(string("ERR boom")).full.empty());
    auto const truncated = parse_one_trip(array({integer(3), integer(1), integer(1),
                                                 string("k")}));
    BOOST_TEST(truncated.skipped == 1U);
    BOOST_TEST(truncated.full.empty());
    BOOST_TEST(parse_one_trip(array({integer(3), integer(0)})).added.empty());
}

namespace {

GroupSendRetry retry_of(std::vector<std::pair<std::string, std::size_t>> keys) {
    GroupSendRetry retry;
    for (auto& [key, channels] : keys) {
        retry.keys.push_back(key);
        retry.payloads.push_back("payload for " + key);
        retry.capacities.push_back(100);
        retry.counts.push_back(channels);
    }
    return retry;
}

} // namespace

BOOST_AUTO_TEST_CASE(pending_retries_keep_order_and_give_up_what_was_overtaken) {
    PendingRetries pending;
    BOOST_TEST(pending.empty());
    // Message 1 found k1 and k2 full; nothing waited before it.
    auto given_up = pending.answer("room", retry_of({{"k1", 3}, {"k2", 2}}), {"k3"});
    BOOST_TEST(given_up.empty());
    BOOST_TEST(pending.channels() == 5U);
    // Message 2 (another group) found k2 full as well: it waits behind message 1.
    given_up = pending.answer("lobby", retry_of({{"k2", 4}}), {});
    BOOST_TEST(given_up.empty());
    BOOST_TEST(pending.channels() == 9U);
    // Message 3 got into k1, which had room again by then: message 1 would now arrive after
    // it there, so message 1 gives k1 up; k2 still waits for both.
    given_up = pending.answer("room", GroupSendRetry{}, {"k1", "k4"});
    BOOST_TEST_REQUIRE(given_up.size() == 1U);
    BOOST_TEST(given_up[0].group == "room");
    BOOST_TEST(given_up[0].channels == 3U);
    BOOST_TEST(pending.channels() == 6U);
    // Message 4 got into k2: both waiting messages give it up, and nothing is left.
    given_up = pending.answer("room", GroupSendRetry{}, {"k2"});
    BOOST_TEST_REQUIRE(given_up.size() == 2U);
    BOOST_TEST(given_up[0].group == "room");
    BOOST_TEST(given_up[0].channels == 2U);
    BOOST_TEST(given_up[1].group == "lobby");
    BOOST_TEST(given_up[1].channels == 4U);
    BOOST_TEST(pending.empty());
}

BOOST_AUTO_TEST_CASE(pending_retries_are_taken_oldest_first) {
    PendingRetries pending;
    pending.answer("a", retry_of({{"k1", 1}}), {});
    pending.answer("b", GroupSendRetry{}, {"k2"}); // nothing full: nothing waits
    pending.answer("c", retry_of({{"k1", 2}, {"k2", 5}}), {});
    auto const taken = pending.take();
    BOOST_TEST(pending.empty());
    BOOST_TEST_REQUIRE(taken.size() == 2U);
    BOOST_TEST(taken[0].group == "a");
    BOOST_TEST(taken[1].group == "c");
    std::vector<std::string> const keys{"k1", "k2"};
    BOOST_TEST(taken[1].retry.keys == keys, boost::test_tools::per_element());
    BOOST_TEST(taken[1].retry.payloads[1] == "payload for k2");
    BOOST_TEST(taken[1].retry.counts[1] == 5U);
}

BOOST_AUTO_TEST_SUITE_END()
