// WsParser: client frames as bytes, without a socket (RFC 6455 section 5).
#include "server/ws_parser.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using canal::detail::WsInput;
using canal::detail::WsParser;
using Kind = WsInput::Kind;

namespace {

// A client frame: masked (unless told not to), with the shortest length form.
std::string frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                  bool masked = true, std::uint8_t first_bits = 0) {
    std::string out;
    out.push_back(static_cast<char>((fin ? 0x80U : 0U) | first_bits | opcode));
    std::uint8_t const mask_bit = masked ? 0x80U : 0U;
    if (payload.size() < 126) {
        out.push_back(static_cast<char>(mask_bit | payload.size()));
    } else if (payload.size() <= 0xFFFF) {
        out.push_back(static_cast<char>(mask_bit | 126U));
        out.push_back(static_cast<char>(payload.size() >> 8U));
        out.push_back(static_cast<char>(payload.size() & 0xFFU));
    } else {
        out.push_back(static_cast<char>(mask_bit | 127U));
        for (int i = 7; i >= 0; --i) {
            out.push_back(static_cast<char>((payload.size() >> (8U * static_cast<unsigned>(i))) & 0xFFU));
        }
    }
    unsigned char const mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    if (masked) {
        out.append(reinterpret_cast<char const*>(mask), 4);
    }
    for (std::size_t i = 0; i < payload.size(); ++i) {
        auto c = static_cast<unsigned char>(payload[i]);
        out.push_back(static_cast<char>(masked ? c ^ mask[i % 4] : c));
    }
    return out;
}

// Everything the parser makes of `bytes`, fed in pieces of `step` bytes.
std::vector<WsInput> parse(std::string const& bytes, std::size_t step = 0,
                           std::size_t max = 1 << 20) {
    WsParser parser(max);
    std::vector<WsInput> out;
    std::size_t at = 0;
    while (at < bytes.size() && !parser.done()) {
        std::size_t const n = step == 0 ? bytes.size() - at : std::min(step, bytes.size() - at);
        std::string_view in(bytes.data() + at, n);
        while (!in.empty() && !parser.done()) {
            auto got = parser.next(in);
            if (got.kind != Kind::none) {
                out.push_back(std::move(got));
            }
        }
        at += n - in.size();
        if (!in.empty()) {
            break; // done with bytes left over
        }
    }
    return out;
}

std::string close_payload(int code, std::string_view reason) {
    std::string p;
    p.push_back(static_cast<char>(code >> 8));
    p.push_back(static_cast<char>(code & 0xFF));
    p.append(reason);
    return p;
}

int failure_code(std::string const& bytes, std::size_t max = 1 << 20) {
    auto got = parse(bytes, 0, max);
    if (got.empty() || got.back().kind != Kind::failure) {
        return 0;
    }
    return got.back().code;
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_parser)

BOOST_AUTO_TEST_CASE(a_masked_text_frame_is_one_message_however_the_bytes_arrive) {
    std::string const bytes = frame(0x1, "hello, canal");
    for (std::size_t step : {0, 1, 2, 3, 7}) {
        auto got = parse(bytes, step);
        BOOST_REQUIRE_EQUAL(got.size(), 1U);
        BOOST_TEST((got[0].kind == Kind::text));
        BOOST_TEST(got[0].payload == "hello, canal");
    }
}

BOOST_AUTO_TEST_CASE(frames_in_one_read_come_out_one_at_a_time_in_order) {
    std::string const big(70000, 'x'); // the 64-bit length form
    std::string const mid(300, 'y');   // the 16-bit length form
    std::string bytes = frame(0x1, "a") + frame(0x2, std::string("\0\1\2", 3)) + frame(0x1, mid) +
                        frame(0x2, big) + frame(0x1, "");
    auto got = parse(bytes);
    BOOST_REQUIRE_EQUAL(got.size(), 5U);
    BOOST_TEST((got[0].kind == Kind::text && got[0].payload == "a"));
    BOOST_TEST((got[1].kind == Kind::binary && got[1].payload == std::string("\0\1\2", 3)));
    BOOST_TEST(got[2].payload == mid);
    BOOST_TEST((got[3].kind == Kind::binary && got[3].payload == big));
    BOOST_TEST((got[4].kind == Kind::text && got[4].payload.empty()));
    BOOST_TEST(parse(bytes, 5).size() == 5U);
}

BOOST_AUTO_TEST_CASE(fragments_are_reassembled_and_a_ping_between_them_comes_first) {
    std::string bytes = frame(0x1, "hel", false) + frame(0x9, "are you there") +
                        frame(0x0, "lo ", false) + frame(0xA, "") + frame(0x0, "world");
    for (std::size_t step : {0, 1, 4}) {
        auto got = parse(bytes, step);
        BOOST_REQUIRE_EQUAL(got.size(), 3U);
        BOOST_TEST((got[0].kind == Kind::ping && got[0].payload == "are you there"));
        BOOST_TEST((got[1].kind == Kind::pong));
        BOOST_TEST((got[2].kind == Kind::text && got[2].payload == "hello world"));
    }
}

BOOST_AUTO_TEST_CASE(an_unmasked_or_reserved_or_unknown_frame_is_a_protocol_error) {
    BOOST_TEST(failure_code(frame(0x1, "hi", true, false)) == 1002);
    BOOST_TEST(failure_code(frame(0x1, "hi", true, true, 0x40)) == 1002); // RSV1: no extension
    BOOST_TEST(failure_code(frame(0x3, "hi")) == 1002);
    BOOST_TEST(failure_code(frame(0xB, "")) == 1002);
}

BOOST_AUTO_TEST_CASE(control_frames_are_short_and_whole) {
    BOOST_TEST(failure_code(frame(0x9, "x", false)) == 1002);
    BOOST_TEST(failure_code(frame(0x9, std::string(126, 'p'))) == 1002);
    BOOST_TEST(parse(frame(0x9, std::string(125, 'p'))).at(0).payload.size() == 125U);
}

BOOST_AUTO_TEST_CASE(fragments_must_follow_a_message_start_and_not_interleave) {
    BOOST_TEST(failure_code(frame(0x0, "orphan")) == 1002);
    BOOST_TEST(failure_code(frame(0x1, "a", false) + frame(0x1, "b")) == 1002);
    BOOST_TEST(failure_code(frame(0x1, "a", false) + frame(0x2, "b")) == 1002);
}

BOOST_AUTO_TEST_CASE(lengths_must_be_in_their_shortest_form) {
    std::string bytes = frame(0x1, "hello");
    // The same 5 bytes announced in the 16-bit form.
    std::string longer;
    longer.push_back(static_cast<char>(0x81));
    longer.push_back(static_cast<char>(0x80 | 126));
    longer.push_back(0);
    longer.push_back(5);
    longer.append(bytes.substr(2));
    BOOST_TEST(failure_code(longer) == 1002);
    std::string top_bit;
    top_bit.push_back(static_cast<char>(0x82));
    top_bit.push_back(static_cast<char>(0x80 | 127));
    top_bit.push_back(static_cast<char>(0x80));
    top_bit.append(7, '\0');
    top_bit.append(4, 'm');
    BOOST_TEST(failure_code(top_bit) == 1002);
}

BOOST_AUTO_TEST_CASE(a_message_over_the_limit_is_1009_as_soon_as_its_header_says_so) {
    std::string const bytes = frame(0x2, std::string(2000, 'z'));
    // The header alone (and the mask) is enough to refuse it.
    BOOST_TEST(failure_code(bytes.substr(0, 8), 1000) == 1009);
    BOOST_TEST(failure_code(bytes, 2000) == 0);
    // Fragments that only add up to too much.
    std::string parts = frame(0x1, std::string(600, 'a'), false) + frame(0x0, std::string(600, 'b'));
    BOOST_TEST(failure_code(parts, 1000) == 1009);
}

BOOST_AUTO_TEST_CASE(text_must_be_utf8_even_split_across_fragments) {
    std::string const euro = "\xE2\x82\xAC"; // U+20AC
    auto got = parse(frame(0x1, euro.substr(0, 1), false) + frame(0x0, euro.substr(1)));
    BOOST_REQUIRE_EQUAL(got.size(), 1U);
    BOOST_TEST(got[0].payload == euro);
    BOOST_TEST(failure_code(frame(0x1, "\xC0\x80")) == 1007);         // overlong NUL
    BOOST_TEST(failure_code(frame(0x1, "\xED\xA0\x80")) == 1007);     // a surrogate
    BOOST_TEST(failure_code(frame(0x1, "\xF4\x90\x80\x80")) == 1007); // above U+10FFFF
    BOOST_TEST(failure_code(frame(0x1, "ok \x80")) == 1007);          // a stray continuation
    BOOST_TEST(failure_code(frame(0x1, "cut \xE2\x82")) == 1007);     // unfinished at the end
    // Binary messages are not text.
    BOOST_TEST((parse(frame(0x2, "\xC0\x80")).at(0).kind == Kind::binary));
    // Invalid bytes fail at once, before the message ends.
    BOOST_TEST(failure_code(frame(0x1, "\xFF", false)) == 1007);
}

BOOST_AUTO_TEST_CASE(close_frames_carry_a_code_and_a_utf8_reason) {
    auto got = parse(frame(0x8, close_payload(4001, "bye")) + frame(0x1, "after"));
    BOOST_REQUIRE_EQUAL(got.size(), 1U); // nothing is read after the close
    BOOST_TEST((got[0].kind == Kind::close));
    BOOST_TEST(got[0].code == 4001);
    BOOST_TEST(got[0].payload == "bye");
    auto empty = parse(frame(0x8, ""));
    BOOST_TEST((empty.at(0).kind == Kind::close && empty.at(0).code == 0));
    BOOST_TEST(failure_code(frame(0x8, "x")) == 1002);
    BOOST_TEST(failure_code(frame(0x8, close_payload(1000, "\xFF"))) == 1007);
    // The parser reports any code; whether RFC 6455 allows it is the session's decision.
    BOOST_TEST(parse(frame(0x8, close_payload(5000, ""))).at(0).code == 5000);
}

BOOST_AUTO_TEST_CASE(accept_key_and_server_frames) {
    // RFC 6455 section 1.3's example.
    BOOST_TEST(canal::detail::websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==") ==
               "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    std::string out;
    canal::detail::append_close_frame(out, 1001, "going away");
    BOOST_TEST(out == std::string("\x88\x0c\x03\xe9going away", 14));
    out.clear();
    canal::detail::append_close_frame(out, 0, "ignored without a code");
    BOOST_TEST(out == std::string("\x88\x00", 2));
    out.clear();
    canal::detail::append_control_frame(out, 0xA, "pong");
    BOOST_TEST(out == std::string("\x8a\x04pong", 6));
}

BOOST_AUTO_TEST_CASE(utf8_validator_takes_pieces) {
    canal::detail::Utf8Validator v;
    BOOST_TEST(v.feed("plain ascii, long enough for the word-at-a-time path"));
    BOOST_TEST(v.feed("\xF0\x9F"));
    BOOST_TEST(!v.complete());
    BOOST_TEST(v.feed("\x98\x80")); // U+1F600
    BOOST_TEST(v.complete());
    BOOST_TEST(!v.feed("\xF5"));
    BOOST_TEST(!v.feed("a")); // stays failed
    v.reset();
    BOOST_TEST(v.feed("\xEF\xBF\xBF")); // U+FFFF is allowed
    BOOST_TEST(v.complete());
}

BOOST_AUTO_TEST_SUITE_END()
