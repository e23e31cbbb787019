// session_core: scope building, upgrade checks, close codes, early-end answers and the
// outbound queue's decisions, with no socket.
#include "server/session_core.hpp"

#include <canal/core/errors.hpp>

#include <boost/beast/http/rfc7230.hpp>
#include <boost/test/unit_test.hpp>

#include <stdexcept>
#include <string>
#include <vector>

using namespace canal;
using namespace canal::detail;

namespace {
RequestHead head(std::string_view type, std::string_view target, Headers headers = {}) {
    RequestHead h;
    h.type = type;
    h.method = "GET";
    h.target = target;
    h.headers = std::move(headers);
    h.client = Endpoint{"10.0.0.7", 4242};
    return h;
}
} // namespace

BOOST_AUTO_TEST_SUITE(session_core)

BOOST_AUTO_TEST_CASE(scope_decodes_the_path_and_keeps_the_raw_path_and_query) {
    auto scope = build_scope(head("http", "/chat/caf%C3%A9%20room/?x=%20y&z"));
    BOOST_REQUIRE(scope);
    BOOST_TEST(scope->type == "http");
    BOOST_TEST(scope->scheme == "http");
    BOOST_TEST(scope->method == "GET");
    BOOST_TEST(scope->path == "/chat/café room/");
    BOOST_TEST(scope->raw_path == "/chat/caf%C3%A9%20room/");
    BOOST_TEST(scope->query_string == "x=%20y&z");
    BOOST_REQUIRE(scope->client);
    BOOST_TEST(scope->client->host == "10.0.0.7");
    BOOST_TEST(scope->client->port == 4242);
}

BOOST_AUTO_TEST_CASE(websocket_scope_lowers_header_names_and_splits_subprotocols) {
    auto scope = build_scope(head("websocket", "/ws/",
                                  {{"Sec-WebSocket-Protocol", " chat.v2 , ,json "},
                                   {"X-Custom", "Keep Case"},
                                   {"sec-websocket-protocol", "extra"}}));
    BOOST_REQUIRE(scope);
    BOOST_TEST(scope->scheme == "ws");
    BOOST_TEST(scope->method.empty());
    BOOST_TEST(scope->headers.at(1).first == "x-custom");
    BOOST_TEST(scope->headers.at(1).second == "Keep Case");
    BOOST_REQUIRE(scope->subprotocols.size() == 3U);
    BOOST_TEST(scope->subprotocols[0] == "chat.v2");
    BOOST_TEST(scope->subprotocols[1] == "json");
    BOOST_TEST(scope->subprotocols[2] == "extra");
}

BOOST_AUTO_TEST_CASE(secure_schemes_and_the_root_path) {
    auto h = head("websocket", "/");
    h.secure = true;
    BOOST_TEST(build_scope(h)->scheme == "wss");
    h.type = "http";
    BOOST_TEST(build_scope(h)->scheme == "https");
    BOOST_TEST(build_scope(h)->path == "/");
}

BOOST_AUTO_TEST_CASE(targets_that_are_not_an_origin_form_are_refused) {
    BOOST_TEST(!build_scope(head("http", "chat/")));
    BOOST_TEST(!build_scope(head("http", "http://example.com/")));
    BOOST_TEST(!build_scope(head("http", "/a b")));
    BOOST_TEST(!build_scope(head("http", "")));
}

BOOST_AUTO_TEST_CASE(a_websocket_key_is_16_bytes_in_base64) {
    BOOST_TEST(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
    BOOST_TEST(is_valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAA=="));
    BOOST_TEST(!is_valid_websocket_key(""));
    BOOST_TEST(!is_valid_websocket_key("hello"));
    BOOST_TEST(!is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ"));       // no padding
    BOOST_TEST(!is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZR=="));     // bits past 16 bytes
    BOOST_TEST(!is_valid_websocket_key("dGhlIHNhbXBsZSBub25j*Q=="));     // not base64
    BOOST_TEST(!is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZXM="));     // 17 bytes
    BOOST_TEST(!is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ==AAAA")); // too long
}

BOOST_AUTO_TEST_CASE(an_upgrade_without_a_valid_key_is_answered_400) {
    auto no_key = build_scope(head("websocket", "/"));
    auto refusal = check_upgrade(*no_key);
    BOOST_REQUIRE(refusal);
    BOOST_TEST(refusal->status == 400);
    BOOST_TEST(refusal->body.find("Sec-WebSocket-Key") != std::string::npos);

    auto bad = build_scope(head("websocket", "/", {{"sec-websocket-key", "short"}}));
    BOOST_TEST(check_upgrade(*bad)->status == 400);
    auto good = build_scope(head("websocket", "/", {{"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                                    {"sec-websocket-version", "13"}}));
    BOOST_TEST(!check_upgrade(*good));
}

BOOST_AUTO_TEST_CASE(an_upgrade_without_version_13_is_answered_400_or_426) {
    auto no_version =
        build_scope(head("websocket", "/", {{"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="}}));
    auto refusal = check_upgrade(*no_version);
    BOOST_REQUIRE(refusal);
    BOOST_TEST(refusal->status == 400);
    BOOST_TEST(refusal->body.find("Sec-WebSocket-Version") != std::string::npos);
    auto old = build_scope(head("websocket", "/", {{"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                                   {"sec-websocket-version", "8"}}));
    refusal = check_upgrade(*old);
    BOOST_REQUIRE(refusal);
    BOOST_TEST(refusal->status == 426);
}

BOOST_AUTO_TEST_CASE(close_codes_follow_rfc_6455) {
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                     3000, 4000, 4999}) {
        BOOST_TEST(is_valid_close_code(code), code);
    }
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}) {
        BOOST_TEST(!is_valid_close_code(code), code);
    }
}

BOOST_AUTO_TEST_CASE(disconnect_codes_for_each_way_a_read_ends) {
    BOOST_TEST(disconnect_code(ReadEnd::peer_closed, 4001, 1000) == 4001);
    BOOST_TEST(disconnect_code(ReadEnd::peer_closed, 0, 1000) == 1005);
    BOOST_TEST(disconnect_code(ReadEnd::too_big, 0, 1000) == 1009);
    BOOST_TEST(disconnect_code(ReadEnd::bad_utf8, 0, 1000) == 1007);
    BOOST_TEST(disconnect_code(ReadEnd::bad_close_code, 5000, 1000) == 1002);
    BOOST_TEST(disconnect_code(ReadEnd::protocol_error, 0, 1000) == 1002);
    BOOST_TEST(disconnect_code(ReadEnd::server_closing, 0, 1008) == 1008);
    BOOST_TEST(disconnect_code(ReadEnd::broken, 0, 1000) == 1006);
}

BOOST_AUTO_TEST_CASE(an_application_ending_before_accept_is_answered_403_404_or_500) {
    auto plain = answer_early_end(nullptr, "websocket /ws/");
    BOOST_TEST(plain.answer.status == 403);
    BOOST_TEST(plain.log.empty());

    auto missing = answer_early_end(std::make_exception_ptr(RouteNotFound("no route for '/x/'")),
                                    "websocket /x/");
    BOOST_TEST(missing.answer.status == 404);
    BOOST_TEST(!missing.error_level);
    BOOST_TEST(missing.log.find("websocket /x/: 404") == 0U);

    auto failed = answer_early_end(std::make_exception_ptr(std::runtime_error("db down")),
                                   "websocket /ws/");
    BOOST_TEST(failed.answer.status == 500);
    BOOST_TEST(failed.error_level);
    // One line that names the connection and what the client got, not a close code.
    BOOST_TEST(failed.log == "websocket /ws/: application failed before accept, answered 500: "
                             "db down");
}

BOOST_AUTO_TEST_CASE(a_full_outbound_queue_closes_or_drops_per_the_policy) {
    Settings s;
    s.outbound_queue_limit = 3;
    s.outbound_queue_bytes = 100;
    BOOST_TEST((on_send(2, 99, s) == SendAction::queue));
    BOOST_TEST((on_send(3, 0, s) == SendAction::close));
    BOOST_TEST((on_send(0, 100, s) == SendAction::close));
    s.overflow_policy = OverflowPolicy::drop;
    BOOST_TEST((on_send(3, 0, s) == SendAction::drop));
    BOOST_TEST((on_send(0, 0, s) == SendAction::queue));
}

BOOST_AUTO_TEST_CASE(close_reasons_are_cut_to_123_bytes_on_a_character_boundary) {
    BOOST_TEST(close_reason("short") == "short");
    BOOST_TEST(close_reason(std::string(200, 'a')).size() == 123U);
    // 122 ASCII bytes then a two-byte 'é': the 'é' would straddle byte 123, so it goes.
    auto cut = close_reason(std::string(122, 'a') + "\xC3\xA9" + "tail");
    BOOST_TEST(cut == std::string(122, 'a'));
}

// split_header_list reads RFC 7230's #token with Beast (empty elements, and spaces or tabs
// around commas, allowed); a malformed list offers nothing rather than a partial list.
BOOST_AUTO_TEST_CASE(header_lists_split_as_beast_token_list_does) {
    for (std::string const value : {"chat", "chat, superchat", " chat ,superchat ", "a,,b", ",", "",
                                    "a\t,\tb", "graphql-ws,  v1.json.example"}) {
        boost::beast::http::opt_token_list tokens(value);
        BOOST_TEST_REQUIRE(boost::beast::http::validate_list(tokens), value);
        std::vector<std::string> expected;
        for (auto token : tokens) {
            expected.emplace_back(token);
        }
        BOOST_TEST(split_header_list(value) == expected, "'" << value << "'");
    }
    BOOST_TEST(split_header_list("a b, c").empty());
    BOOST_TEST(split_header_list("chat, \"quoted\"").empty());
}

BOOST_AUTO_TEST_CASE(response_headers_need_a_token_name_and_a_value_without_line_breaks) {
    BOOST_TEST(valid_response_header("Set-Cookie", "a=b; Path=/"));
    BOOST_TEST(valid_response_header("X-Custom_1", ""));
    BOOST_TEST(!valid_response_header("", "x"));
    BOOST_TEST(!valid_response_header("Bad Name", "x"));
    BOOST_TEST(!valid_response_header("X-A:", "x"));
    BOOST_TEST(!valid_response_header("X-A", "a\r\nInjected: yes"));
    BOOST_TEST(!valid_response_header("X-A", "a\nb"));
    BOOST_TEST(!valid_response_header("X-A", std::string_view("a\0b", 3)));
}

BOOST_AUTO_TEST_SUITE_END()
