// Integration: the real canal-chat executable shuts down gracefully on SIGTERM and SIGHUP
// (websockets closed with 1001, exit status 0 within 5 s).
#include "support/child_process.hpp"
#include "support/ws_client.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace {

using namespace canal::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

} // namespace

BOOST_AUTO_TEST_SUITE(graceful_shutdown)

// SIGHUP (a closed terminal, a reload request) stops as gracefully as SIGTERM.
BOOST_DATA_TEST_CASE(sigterm_or_sighup_closes_websockets_with_1001_and_exits_0,
                     boost::unit_test::data::make({SIGTERM, SIGHUP}), signal_number) {
    ChildProcess chat{{CANAL_CHAT_EXE, "--host", "127.0.0.1", "--port", "0", "--threads", "2"}};

    std::string const prefix = "canal: listening on http://";
    auto line = chat.line_containing(prefix, 10s);
    BOOST_REQUIRE_MESSAGE(line, "no listening line on stdout within 10 s; stdout so far: '"
                                    << chat.output() << "'");
    // "canal: listening on http://HOST:PORT/"
    auto const address = line->substr(line->find(prefix) + prefix.size());
    auto const colon = address.rfind(':');
    BOOST_REQUIRE(colon != std::string::npos);
    auto const host = address.substr(0, colon);
    auto const port = static_cast<unsigned short>(std::stoi(address.substr(colon + 1)));
    BOOST_TEST_MESSAGE("canal-chat listens on " << host << ":" << port);
    BOOST_REQUIRE(port != 0);

    ConnectOptions same_site; // the chat's origin check lets localhost pages in
    same_site.origin = "http://" + host + ":" + std::to_string(port);
    auto r = ws_connect(host, port, "/ws/chat/lobby/", same_site);
    BOOST_REQUIRE_MESSAGE(r, r.error << " (HTTP " << r.http_status << ")");
    BOOST_REQUIRE(r.ws->send_text(R"({"message": "before shutdown"})"));
    auto hello = r.ws->read();
    BOOST_REQUIRE_MESSAGE(hello.kind == WsFrame::Kind::text, hello.describe());

    auto const signalled = Clock::now();
    BOOST_REQUIRE(chat.signal(signal_number));
    auto f = r.ws->read(5s);
    BOOST_TEST(f.kind == WsFrame::Kind::close, "after signal " << signal_number << " the client got " << f.describe());
    BOOST_TEST(f.close_code == 1001, "after signal " << signal_number << " the client got " << f.describe());

    auto const status = chat.wait_exit(
        5s - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - signalled));
    BOOST_REQUIRE_MESSAGE(status, "canal-chat still running 5 s after signal " << signal_number);
    BOOST_TEST((WIFEXITED(*status) && WEXITSTATUS(*status) == 0), describe_status(*status));
    BOOST_TEST_MESSAGE("canal-chat exited "
                       << std::chrono::duration<double>(Clock::now() - signalled).count()
                       << " s after signal " << signal_number);
}

BOOST_AUTO_TEST_SUITE_END()
