// apply_proxy_headers without sockets: who is trusted, which X-Forwarded-For hop is the
// client, the port and scheme, and the values that are ignored.
#include "server/proxy_headers.hpp"

#include <canal/server/settings.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

namespace {

using canal::Scope;
using canal::detail::apply_proxy_headers;
using canal::detail::TrustedProxies;

Scope scope_from(std::string const& peer, canal::Headers headers,
                 std::string const& type = "http") {
    Scope s;
    s.type = type;
    s.scheme = type == "websocket" ? "ws" : "http";
    s.client = canal::Endpoint{peer, 40000};
    s.headers = std::move(headers);
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(proxy_headers)

BOOST_AUTO_TEST_CASE(trusted_blocks_hold_what_they_name) {
    TrustedProxies const t({"127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"});
    BOOST_TEST(t.contains("127.0.0.1"));
    BOOST_TEST(!t.contains("127.0.0.2"));
    BOOST_TEST(t.contains("10.200.3.4"));
    BOOST_TEST(!t.contains("11.0.0.1"));
    BOOST_TEST(t.contains("::1"));
    BOOST_TEST(t.contains("fd12::7"));
    BOOST_TEST(!t.contains("fe80::1"));
    BOOST_TEST(t.contains("::ffff:10.1.1.1")); // an IPv4 peer on a dual-stack socket
    BOOST_TEST(!t.contains("not an address"));
    for (std::string const bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "host", "::1/129", ""}) {
        BOOST_CHECK_THROW(TrustedProxies({bad}), canal::InvalidSetting);
    }
}

BOOST_AUTO_TEST_CASE(a_trusted_proxy_sets_client_port_and_scheme) {
    TrustedProxies const t({"127.0.0.1"});
    auto s = scope_from("127.0.0.1", {{"x-forwarded-for", "203.0.113.7"},
                                      {"x-forwarded-port", "51000"},
                                      {"x-forwarded-proto", "https"}});
    apply_proxy_headers(s, t);
    BOOST_TEST(s.client->host == "203.0.113.7");
    BOOST_TEST(s.client->port == 51000);
    BOOST_TEST(s.scheme == "https");
    auto ws = scope_from("127.0.0.1", {{"x-forwarded-for", "2001:db8::5"},
                                       {"x-forwarded-proto", "https"}},
                         "websocket");
    apply_proxy_headers(ws, t);
    BOOST_TEST(ws.client->host == "2001:db8::5");
    BOOST_TEST(ws.client->port == 0); // no X-Forwarded-Port
    BOOST_TEST(ws.scheme == "wss");
}

BOOST_AUTO_TEST_CASE(a_peer_on_a_unix_socket_counts_as_a_trusted_proxy) {
    TrustedProxies const t({"127.0.0.1"});
    Scope s;
    s.type = "websocket";
    s.scheme = "ws"; // no client: a unix socket's peer has no address
    s.headers = {{"x-forwarded-for", "198.51.100.9"}, {"x-forwarded-proto", "https"}};
    auto untouched = s;
    apply_proxy_headers(untouched, t); // not known to be local: ignored
    BOOST_TEST(!untouched.client.has_value());
    BOOST_TEST(untouched.scheme == "ws");
    apply_proxy_headers(s, t, true);
    BOOST_REQUIRE(s.client.has_value());
    BOOST_TEST(s.client->host == "198.51.100.9");
    BOOST_TEST(s.scheme == "wss");
}

BOOST_AUTO_TEST_CASE(the_client_is_the_right_most_hop_that_is_not_a_trusted_proxy) {
    TrustedProxies const t({"127.0.0.1", "10.0.0.0/8"});
    // The client wrote "1.1.1.1" itself; the first proxy (10.0.0.2) saw 198.51.100.9.
    auto s = scope_from("127.0.0.1", {{"x-forwarded-for", "1.1.1.1, 198.51.100.9, 10.0.0.2"}});
    apply_proxy_headers(s, t);
    BOOST_TEST(s.client->host == "198.51.100.9");
    // A repeated header is one list, in order.
    auto r = scope_from("127.0.0.1",
                        {{"x-forwarded-for", "1.1.1.1"}, {"x-forwarded-for", "198.51.100.10"}});
    apply_proxy_headers(r, t);
    BOOST_TEST(r.client->host == "198.51.100.10");
    // Only proxies: the left-most.
    auto all = scope_from("127.0.0.1", {{"x-forwarded-for", "10.0.0.5, 10.0.0.6"}});
    apply_proxy_headers(all, t);
    BOOST_TEST(all.client->host == "10.0.0.5");
}

BOOST_AUTO_TEST_CASE(headers_from_an_untrusted_peer_or_malformed_are_ignored) {
    TrustedProxies const t({"127.0.0.1"});
    auto s = scope_from("192.0.2.1", {{"x-forwarded-for", "203.0.113.7"},
                                      {"x-forwarded-proto", "https"}});
    apply_proxy_headers(s, t);
    BOOST_TEST(s.client->host == "192.0.2.1");
    BOOST_TEST(s.client->port == 40000);
    BOOST_TEST(s.scheme == "http");
    auto bad = scope_from("127.0.0.1", {{"x-forwarded-for", "not-an-ip"},
                                        {"x-forwarded-port", "99999"},
                                        {"x-forwarded-proto", "gopher"}});
    apply_proxy_headers(bad, t);
    BOOST_TEST(bad.client->host == "127.0.0.1");
    BOOST_TEST(bad.scheme == "http");
    auto bad_port = scope_from("127.0.0.1", {{"x-forwarded-for", "203.0.113.7"},
                                             {"x-forwarded-port", "80x"}});
    apply_proxy_headers(bad_port, t);
    BOOST_TEST(bad_port.client->host == "203.0.113.7");
    BOOST_TEST(bad_port.client->port == 0);
}

BOOST_AUTO_TEST_SUITE_END()
