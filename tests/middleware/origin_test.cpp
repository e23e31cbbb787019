// Origin checks: Channels' pattern rules as a table, and OriginValidator refusing before accept.
#include <canal/middleware/origin_validator.hpp>

#include <canal/core/errors.hpp>

#include "middleware_test_helpers.hpp"

#include <boost/test/unit_test.hpp>

#include <optional>

using namespace canal;

namespace {

struct Case {
    std::vector<std::string> allowed;
    std::optional<std::string> origin;
    bool expected;
};

awaitable<void> record_run(std::shared_ptr<bool> ran, Receive receive, Send send) {
    *ran = true;
    (void)co_await receive();
    Event accept = WebsocketAccept{};
    co_await send(std::move(accept));
}

Scope ws_scope(std::optional<std::string> origin) {
    Scope s;
    s.type = "websocket";
    s.scheme = "ws";
    s.path = "/chat/stream/";
    if (origin) {
        s.headers.emplace_back("origin", *origin);
    }
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(origins)

BOOST_AUTO_TEST_CASE(pattern_table) {
    std::vector<Case> const cases{
        // A host without a scheme: any scheme and port.
        {{"allowed-domain.com"}, "http://allowed-domain.com", true},
        {{"allowed-domain.com"}, "https://allowed-domain.com:8443", true},
        {{"allowed-domain.com"}, "http://bad-domain.com", false},
        {{"allowed-domain.com"}, "http://sub.allowed-domain.com", false},
        {{"allowed-domain.com"}, std::nullopt, false},
        // A leading dot: the domain and its subdomains.
        {{".allowed-domain.com"}, "http://allowed-domain.com", true},
        {{".allowed-domain.com"}, "http://sub.allowed-domain.com", true},
        {{".allowed-domain.com"}, "https://a.b.allowed-domain.com:4443", true},
        {{".allowed-domain.com"}, "http://notallowed-domain.com", false},
        {{".allowed-domain.com"}, "http://allowed-domain.com.evil.com", false},
        // With a scheme: scheme, host and port (default ports filled in) must all match.
        {{"http://allowed-domain.com"}, "http://allowed-domain.com", true},
        {{"http://allowed-domain.com"}, "http://allowed-domain.com:80", true},
        {{"http://allowed-domain.com"}, "http://allowed-domain.com:8080", false},
        {{"http://allowed-domain.com"}, "https://allowed-domain.com", false},
        {{"https://allowed-domain.com"}, "https://allowed-domain.com:443", true},
        {{"http://allowed-domain.com:8000"}, "http://allowed-domain.com:8000", true},
        {{"http://allowed-domain.com:8000"}, "http://allowed-domain.com", false},
        {{"http://.allowed-domain.com"}, "http://sub.allowed-domain.com", true},
        {{"http://.allowed-domain.com"}, "https://sub.allowed-domain.com", false},
        {{"ws://allowed-domain.com"}, "ws://allowed-domain.com:80", true},
        // Case does not matter.
        {{"Allowed-Domain.COM"}, "HTTP://ALLOWED-domain.com", true},
        // IPv6 and localhost, as AllowedHostsOriginValidator's defaults.
        {{"[::1]"}, "http://[::1]:8000", true},
        {{"127.0.0.1"}, "http://127.0.0.1:8000", true},
        {{"localhost"}, "http://localhost:3000", true},
        {{"localhost"}, "http://localhost.evil.com", false},
        // Several patterns: any one matching is enough.
        {{"a.com", "http://b.com"}, "http://b.com", true},
        {{"a.com", "http://b.com"}, "http://c.com", false},
        // "*" allows anything, even no Origin at all.
        {{"*"}, std::nullopt, true},
        {{"*"}, "null", true},
        {{"*"}, "http://whatever.example", true},
        // Origins that do not parse.
        {{"allowed-domain.com"}, "null", false},
        {{"allowed-domain.com"}, "", false},
        {{"allowed-domain.com"}, "http://", false},
        {{"allowed-domain.com"}, "allowed-domain.com", false},
        {{"allowed-domain.com"}, "http://allowed-domain.com:abc", false},
        {{"allowed-domain.com"}, "http://allowed-domain.com:99999", false},
        {{"allowed-domain.com"}, "http://[::1", false},
        {{}, "http://allowed-domain.com", false},
    };
    for (auto const& c : cases) {
        std::optional<std::string_view> origin;
        if (c.origin) {
            origin = *c.origin;
        }
        std::string patterns;
        for (auto const& p : c.allowed) {
            patterns += "'" + p + "' ";
        }
        BOOST_TEST(valid_origin(origin, c.allowed) == c.expected,
                   "origin " << (c.origin ? "'" + *c.origin + "'" : "(none)") << " against "
                             << patterns << "should be " << (c.expected ? "allowed" : "refused"));
    }
}

BOOST_AUTO_TEST_CASE(parse_origin_fields) {
    auto o = parse_origin("HTTPS://User@Example.COM:8443/path?q");
    BOOST_REQUIRE(o.has_value());
    BOOST_TEST(o->scheme == "https");
    BOOST_TEST(o->hostname == "example.com");
    BOOST_TEST(o->port.value_or(0) == 8443U);
    auto v6 = parse_origin("http://[::1]");
    BOOST_REQUIRE(v6.has_value());
    BOOST_TEST(v6->hostname == "::1");
    BOOST_TEST(!v6->port.has_value());
    BOOST_TEST(is_same_domain("a.example.com", ".example.com"));
    BOOST_TEST(is_same_domain("example.com", ".example.com"));
    BOOST_TEST(!is_same_domain("example.com", ""));
}

BOOST_AUTO_TEST_CASE(validator_refuses_before_accept) {
    auto ran = std::make_shared<bool>(false);
    Application inner = [ran](Scope, Receive r, Send s) {
        return record_run(ran, std::move(r), std::move(s));
    };
    Application app = AllowedHostsOriginValidator(inner);

    auto refused = test::drive(app, ws_scope("http://evil.example"), {WebsocketConnect{}});
    BOOST_TEST(!*ran);
    BOOST_REQUIRE(refused->sent.size() == 1U);
    BOOST_TEST(std::holds_alternative<WebsocketClose>(refused->sent[0]));

    auto none = test::drive(app, ws_scope(std::nullopt), {WebsocketConnect{}});
    BOOST_TEST(!*ran);
    BOOST_TEST(std::holds_alternative<WebsocketClose>(none->sent.at(0)));

    auto ok = test::drive(app, ws_scope("http://localhost:8000"), {WebsocketConnect{}});
    BOOST_TEST(*ran);
    BOOST_TEST(std::holds_alternative<WebsocketAccept>(ok->sent.at(0)));

    // Explicit hosts replace the localhost defaults.
    *ran = false;
    Application only = AllowedHostsOriginValidator(inner, {"chat.example.com"});
    (void)test::drive(only, ws_scope("http://localhost:8000"), {WebsocketConnect{}});
    BOOST_TEST(!*ran);
    (void)test::drive(only, ws_scope("https://chat.example.com"), {WebsocketConnect{}});
    BOOST_TEST(*ran);
}

BOOST_AUTO_TEST_CASE(validator_is_for_websockets_only) {
    Application inner = [](Scope, Receive, Send) { return test::nothing(); };
    Application app = OriginValidator(inner, {"*"});
    BOOST_CHECK_THROW(test::drive(app, test::http_scope("/")), canal::Error);
}

BOOST_AUTO_TEST_SUITE_END()
