// The log cannot be forged by clients: every line has its control characters escaped and its
// length capped (detail::loggable), checked on its own and through a real canal-chat process.
#include "detail/log.hpp"

#include "support/child_process.hpp"
#include "support/ws_client.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace canal::test;
using namespace std::chrono_literals;
using canal::detail::loggable;

std::vector<std::string> lines_of(std::string const& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
        lines.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return lines;
}

} // namespace

BOOST_AUTO_TEST_SUITE(log_lines)

BOOST_AUTO_TEST_CASE(control_characters_are_escaped) {
    BOOST_TEST(loggable("plain text, UTF-8 caf\xc3\xa9") == "plain text, UTF-8 caf\xc3\xa9");
    BOOST_TEST(loggable("a\nb") == "a\\nb");
    BOOST_TEST(loggable("a\r\nb") == "a\\x0d\\nb");
    BOOST_TEST(loggable(std::string("t\tnul\0del\x7f", 10)) == "t\\x09nul\\x00del\\x7f");
    BOOST_TEST(loggable("\x1b[31mred") == "\\x1b[31mred");
}

BOOST_AUTO_TEST_CASE(long_values_are_cut_with_a_marker_saying_how_much) {
    BOOST_TEST(loggable(std::string(10, 'x'), 10) == std::string(10, 'x'));
    BOOST_TEST(loggable(std::string(11, 'x'), 10) == std::string(10, 'x') + " ... [1 bytes cut]");
    BOOST_TEST(loggable(std::string(16384, 'r')) ==
               std::string(canal::detail::max_log_value, 'r') + " ... [16184 bytes cut]");
    // Never half an escape: "\n" takes two bytes and does not fit in the last one.
    BOOST_TEST(loggable("abc\n", 4) == "abc ... [1 bytes cut]");
    BOOST_TEST(loggable("ab\x01", 4) == "ab ... [1 bytes cut]");
    // Never half a UTF-8 sequence: "é" is two bytes, "€" three.
    BOOST_TEST(loggable("abc\xc3\xa9", 4) == "abc ... [2 bytes cut]");
    BOOST_TEST(loggable("a\xe2\x82\xac", 3) == "a ... [3 bytes cut]");
    BOOST_TEST(loggable("a\xe2\x82\xac", 4) == "a\xe2\x82\xac");
}

BOOST_AUTO_TEST_CASE(a_refused_room_name_with_a_newline_makes_one_log_line) {
    ChildProcess chat({CANAL_CHAT_EXE, "--host", "127.0.0.1", "--port", "0", "--threads", "1"},
                      true);
    std::string const prefix = "canal: listening on http://127.0.0.1:";
    auto line = chat.line_containing(prefix, 10s);
    BOOST_REQUIRE_MESSAGE(line, "canal-chat did not listen: " << chat.output());
    auto const port = static_cast<unsigned short>(std::stoi(line->substr(prefix.size())));
    ConnectOptions same_site;
    same_site.origin = "http://127.0.0.1:" + std::to_string(port);

    // "%0A" decodes to a newline in the room name; the consumer refuses the room and logs it.
    auto forged = ws_connect("127.0.0.1", port,
                             "/ws/chat/x%0A2026-01-01T00:00:00Z%20canal%20INFO%20FORGED/", same_site);
    BOOST_TEST(forged.http_status == 403, forged.error);
    auto huge = ws_connect("127.0.0.1", port, "/ws/chat/" + std::string(15000, 'h') + "%0A/",
                           same_site);
    BOOST_TEST(huge.http_status == 403, huge.error);

    BOOST_REQUIRE(chat.signal(SIGTERM)); // the log is complete once the process has exited
    auto status = chat.wait_exit(10s);
    BOOST_REQUIRE_MESSAGE(status, "canal-chat still running 10 s after SIGTERM");

    int forged_lines = 0;
    int huge_lines = 0;
    for (auto const& l : lines_of(chat.output())) {
        if (l.find("FORGED") != std::string::npos) {
            ++forged_lines;
            BOOST_TEST(l.find("x\\n2026-01-01T00:00:00Z canal INFO FORGED") != std::string::npos,
                       "the newline must be escaped in: " << l);
        }
        if (l.find("hhhh") != std::string::npos) {
            ++huge_lines;
            BOOST_TEST(l.size() < canal::detail::max_log_line + 100, "a line of " << l.size());
            BOOST_TEST(l.find(" bytes cut]") != std::string::npos, l.substr(0, 200));
        }
        BOOST_TEST(!l.starts_with("2026-01-01T00:00:00Z"), "a forged line: " << l);
    }
    BOOST_TEST(forged_lines == 1, "lines naming the forged room:\n" << chat.output());
    BOOST_TEST(huge_lines >= 1, chat.output().substr(0, 2000));
}

BOOST_AUTO_TEST_SUITE_END()
