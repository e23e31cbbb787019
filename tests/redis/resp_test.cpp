// RESP framing without sockets: command encoding and hiredis-based reply decoding.
#include "redis/resp.hpp"

#include <canal/core/errors.hpp>

#include <boost/test/unit_test.hpp>

#include <string>

using canal::redis::Reply;
using canal::redis::detail::encode_command;
using canal::redis::detail::ReplyReader;

BOOST_AUTO_TEST_SUITE(resp)

BOOST_AUTO_TEST_CASE(commands_are_arrays_of_bulk_strings) {
    std::string out;
    encode_command({"SET", "key", "va\r\nlue"}, out);
    BOOST_TEST(out == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nva\r\nlue\r\n");
    encode_command({"PING"}, out); // appends
    BOOST_TEST(out.ends_with("\r\n*1\r\n$4\r\nPING\r\n"));
    std::string binary;
    encode_command({std::string("a\0b", 3), ""}, binary);
    BOOST_TEST(binary == std::string("*2\r\n$3\r\na\0b\r\n$0\r\n\r\n", 19));
}

BOOST_AUTO_TEST_CASE(every_reply_kind) {
    ReplyReader reader;
    std::string const wire = "+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\nhe\r\no\r\n$-1\r\n*-1\r\n*0\r\n";
    reader.feed(wire.data(), wire.size());
    auto r = reader.next();
    BOOST_REQUIRE(r);
    BOOST_TEST((r->kind == Reply::Kind::status));
    BOOST_TEST(r->str == "OK");
    r = reader.next();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->is_error());
    BOOST_TEST(r->str == "ERR wrong");
    r = reader.next();
    BOOST_REQUIRE(r);
    BOOST_TEST((r->kind == Reply::Kind::integer));
    BOOST_TEST(r->integer == -42);
    r = reader.next();
    BOOST_REQUIRE(r);
    BOOST_TEST((r->kind == Reply::Kind::string));
    BOOST_TEST(r->str == "he\r\no");
    r = reader.next();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->is_nil());
    r = reader.next();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->is_nil());
    r = reader.next();
    BOOST_REQUIRE(r);
    BOOST_TEST((r->kind == Reply::Kind::array));
    BOOST_TEST(r->elements.empty());
    BOOST_TEST(!reader.next());
}

BOOST_AUTO_TEST_CASE(nested_arrays) {
    ReplyReader reader;
    std::string const wire = "*3\r\n*2\r\n:1\r\n$3\r\nfoo\r\n$-1\r\n*1\r\n*1\r\n+deep\r\n";
    reader.feed(wire.data(), wire.size());
    auto const r = reader.next();
    BOOST_REQUIRE(r);
    BOOST_REQUIRE(r->elements.size() == 3u);
    BOOST_TEST(r->elements[0].elements.size() == 2u);
    BOOST_TEST(r->elements[0].elements[0].integer == 1);
    BOOST_TEST(r->elements[0].elements[1].str == "foo");
    BOOST_TEST(r->elements[1].is_nil());
    BOOST_TEST(r->elements[2].elements[0].elements[0].str == "deep");
    BOOST_TEST(!reader.next());
}

BOOST_AUTO_TEST_CASE(replies_fed_one_byte_at_a_time) {
    ReplyReader reader;
    std::string const wire = "*2\r\n$6\r\nfoobar\r\n:7\r\n+PONG\r\n";
    std::vector<Reply> got;
    for (char c : wire) {
        reader.feed(&c, 1);
        while (auto r = reader.next()) {
            got.push_back(std::move(*r));
        }
    }
    BOOST_REQUIRE(got.size() == 2u);
    BOOST_TEST(got[0].elements[0].str == "foobar");
    BOOST_TEST(got[0].elements[1].integer == 7);
    BOOST_TEST(got[1].str == "PONG");
}

BOOST_AUTO_TEST_CASE(a_large_bulk_string_across_feeds) {
    ReplyReader reader;
    std::string const payload(200000, 'x');
    std::string const wire = "$" + std::to_string(payload.size()) + "\r\n" + payload + "\r\n";
    std::size_t const half = wire.size() / 2;
    reader.feed(wire.data(), half);
    BOOST_TEST(!reader.next());
    reader.feed(wire.data() + half, wire.size() - half);
    auto const r = reader.next();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->str == payload);
}

BOOST_AUTO_TEST_CASE(a_protocol_error_throws) {
    ReplyReader reader;
    std::string const wire = "+OK\r\n?garbage\r\n";
    reader.feed(wire.data(), wire.size());
    BOOST_TEST(reader.next()->str == "OK");
    BOOST_CHECK_EXCEPTION((void)reader.next(), canal::Error, [](canal::Error const& e) {
        return std::string(e.what()).starts_with("Redis protocol error");
    });
}

BOOST_AUTO_TEST_CASE(array_headers_beyond_the_limit_throw_before_allocating) {
    // Found by fuzzing: hiredis 0.14 reserves the element pointers when it reads the header,
    // 10 GB for this one.
    for (std::string const wire : {"*1333333333\r\n", "*2\r\n*1048577\r\n"}) {
        ReplyReader reader;
        reader.feed(wire.data(), wire.size());
        std::string got = "(nothing thrown)";
        try {
            (void)reader.next();
        } catch (canal::Error const& e) {
            got = e.what();
        }
        BOOST_TEST(got.starts_with("Redis protocol error: an array of"), wire << ": " << got);
        BOOST_TEST(got.ends_with("over the limit of 1048576"), wire << ": " << got);
    }
    ReplyReader negative; // hiredis refuses negative counts other than -1 itself
    std::string const minus = "*-5\r\n";
    negative.feed(minus.data(), minus.size());
    BOOST_CHECK_THROW((void)negative.next(), canal::Error);
    ReplyReader reader; // the limit itself is fine
    std::string wire = "*1048576\r\n";
    reader.feed(wire.data(), wire.size());
    BOOST_TEST(!reader.next().has_value()); // waiting for the elements
}

BOOST_AUTO_TEST_SUITE_END()
