// The Redis client's request multiplexing without a socket: one output stream, replies
// matched to requests in order, across partial reads, and what a lost connection leaves.
#include "redis/multiplexer.hpp"

#include <canal/core/errors.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using canal::redis::Command;
using canal::redis::Reply;
using canal::redis::detail::Multiplexer;

namespace {

std::vector<Multiplexer::Done> read(Multiplexer& mux, std::string const& bytes) {
    return mux.on_read(bytes.data(), bytes.size());
}

std::vector<Command> one(Command c) {
    std::vector<Command> commands;
    commands.push_back(std::move(c));
    return commands;
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_multiplexer)

BOOST_AUTO_TEST_CASE(requests_are_written_as_one_stream_in_order) {
    Multiplexer mux;
    BOOST_TEST(!mux.has_output());
    auto const a = mux.add(one({"PING"}));
    std::vector<Command> pipeline;
    pipeline.push_back({"SET", "k", "v"});
    pipeline.push_back({"GET", "k"});
    auto const b = mux.add(pipeline);
    BOOST_TEST(a == 1U);
    BOOST_TEST(b == 2U);
    BOOST_TEST(mux.waiting() == 2U);
    std::string buffer = "stale";
    mux.take_output(buffer);
    BOOST_TEST(buffer == "*1\r\n$4\r\nPING\r\n"
                         "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
                         "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    BOOST_TEST(!mux.has_output());
    mux.take_output(buffer);
    BOOST_TEST(buffer.empty());
}

BOOST_AUTO_TEST_CASE(replies_complete_requests_in_order_whatever_the_reads_cut) {
    Multiplexer mux;
    mux.add(one({"PING"}));
    std::vector<Command> pipeline;
    pipeline.push_back({"INCR", "n"});
    pipeline.push_back({"GET", "k"});
    mux.add(pipeline);
    std::string const replies = "+PONG\r\n:7\r\n$5\r\nhello\r\n";
    // Byte by byte: nothing completes before its last byte.
    std::vector<Multiplexer::Done> done;
    for (std::size_t i = 0; i < replies.size(); ++i) {
        auto got = read(mux, replies.substr(i, 1));
        if (i + 1 < 7) {
            BOOST_TEST(got.empty());
        }
        for (auto& d : got) {
            done.push_back(std::move(d));
        }
        if (i + 1 == 7) {
            BOOST_TEST_REQUIRE(done.size() == 1U);
        }
    }
    BOOST_TEST_REQUIRE(done.size() == 2U);
    BOOST_TEST(done[0].id == 1U);
    BOOST_TEST_REQUIRE(done[0].replies.size() == 1U);
    BOOST_TEST(done[0].replies[0].str == "PONG");
    BOOST_TEST(done[1].id == 2U);
    BOOST_TEST_REQUIRE(done[1].replies.size() == 2U);
    BOOST_TEST(done[1].replies[0].integer == 7);
    BOOST_TEST(done[1].replies[1].str == "hello");
    BOOST_TEST(mux.waiting() == 0U);
}

BOOST_AUTO_TEST_CASE(an_error_reply_answers_its_own_command_only) {
    Multiplexer mux;
    std::vector<Command> pipeline;
    pipeline.push_back({"BOGUS"});
    pipeline.push_back({"PING"});
    mux.add(pipeline);
    auto done = read(mux, "-ERR unknown command 'BOGUS'\r\n+PONG\r\n");
    BOOST_TEST_REQUIRE(done.size() == 1U);
    BOOST_TEST(done[0].replies[0].is_error());
    BOOST_TEST(done[0].replies[1].str == "PONG");
}

BOOST_AUTO_TEST_CASE(a_reply_nobody_asked_for_is_a_protocol_error) {
    Multiplexer mux;
    BOOST_CHECK_THROW(read(mux, "+PONG\r\n"), canal::Error);
    Multiplexer garbled;
    garbled.add(one({"PING"}));
    BOOST_CHECK_THROW(read(garbled, "?what\r\n"), canal::Error);
}

BOOST_AUTO_TEST_CASE(a_lost_connection_returns_the_waiting_requests_and_starts_clean) {
    Multiplexer mux;
    mux.add(one({"PING"}));
    mux.add(one({"GET", "a"}));
    mux.add(one({"GET", "b"}));
    std::string buffer;
    mux.take_output(buffer);
    // The first reply arrived, and half of the second.
    auto done = read(mux, "+PONG\r\n$5\r\nhel");
    BOOST_TEST(done.size() == 1U);
    mux.add(one({"GET", "c"})); // queued, never written
    auto const lost = mux.reset();
    std::vector<Multiplexer::Id> const expected{2, 3, 4};
    BOOST_TEST(lost == expected, boost::test_tools::per_element());
    BOOST_TEST(mux.waiting() == 0U);
    BOOST_TEST(!mux.has_output());
    // The half reply is gone: the next connection's first reply answers the next request.
    auto const next = mux.add(one({"PING"}));
    auto again = read(mux, "+PONG\r\n");
    BOOST_TEST_REQUIRE(again.size() == 1U);
    BOOST_TEST(again[0].id == next);
    BOOST_TEST(again[0].replies[0].str == "PONG");
}

BOOST_AUTO_TEST_CASE(a_request_without_commands_is_refused) {
    Multiplexer mux;
    BOOST_CHECK_THROW(mux.add({}), canal::Error);
    BOOST_TEST(mux.waiting() == 0U);
    BOOST_TEST(!mux.has_output());
}

BOOST_AUTO_TEST_SUITE_END()
