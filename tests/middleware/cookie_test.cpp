// Cookie header parsing (Django's parse_cookie rules, malformed input) and Set-Cookie output.
#include <canal/middleware/cookie_middleware.hpp>

#include "middleware_test_helpers.hpp"

#include <boost/test/unit_test.hpp>

#include <random>

using canal::parse_cookies;

BOOST_AUTO_TEST_SUITE(cookies)

BOOST_AUTO_TEST_CASE(parses_pairs_and_trims_spaces) {
    auto c = parse_cookies("sessionid=abc; csrftoken = x y ;theme=dark");
    BOOST_TEST(c.size() == 3U);
    BOOST_TEST(c["sessionid"] == "abc");
    BOOST_TEST(c["csrftoken"] == "x y");
    BOOST_TEST(c["theme"] == "dark");
}

BOOST_AUTO_TEST_CASE(django_cases) {
    // Cases from Django's tests of parse_cookie.
    BOOST_TEST(parse_cookies("nameWithoutValue; a=b")[""] == "nameWithoutValue");
    BOOST_TEST(parse_cookies("a=b=c")["a"] == "b=c");
    BOOST_TEST(parse_cookies("a=; b=2")["a"] == "");
    BOOST_TEST(parse_cookies("a=\"quoted\"")["a"] == "quoted");
    BOOST_TEST(parse_cookies("a=\"\\\"x\\\\\"")["a"] == "\"x\\");
    BOOST_TEST(parse_cookies("a=\"\\101\"")["a"] == "A");
    BOOST_TEST(parse_cookies("a=\"unterminated")["a"] == "\"unterminated");
    BOOST_TEST(parse_cookies("a=1; a=2")["a"] == "2"); // the last one wins, as in Django
    BOOST_TEST(parse_cookies("  ").empty());
    BOOST_TEST(parse_cookies("").empty());
    BOOST_TEST(parse_cookies(";;;").empty());
    BOOST_TEST(parse_cookies("=").empty());
    BOOST_TEST(parse_cookies("=v")[""] == "v");
}

BOOST_AUTO_TEST_CASE(garbage_never_crashes) {
    std::mt19937 rng(12345);
    std::string alphabet = std::string("=;\"\\ \t,abc\x01\xff", 13);
    for (int round = 0; round < 2000; ++round) {
        std::string header;
        auto const n = rng() % 40;
        for (unsigned i = 0; i < n; ++i) {
            header.push_back(alphabet[rng() % alphabet.size()]);
        }
        BOOST_CHECK_NO_THROW((void)parse_cookies(header));
    }
    auto c = parse_cookies(std::string("a=\"\\", 4)); // a lone backslash inside quotes
    BOOST_TEST(c.size() == 1U);
}

BOOST_AUTO_TEST_CASE(middleware_fills_scope_cookies) {
    canal::Cookies seen;
    auto seen_ptr = &seen;
    canal::Application inner = [seen_ptr](canal::Scope scope, canal::Receive,
                                          canal::Send) -> canal::awaitable<void> {
        *seen_ptr = scope.cookies;
        return canal::test::nothing();
    };
    canal::CookieMiddleware mw(inner);
    canal::test::drive(mw,
                       canal::test::http_scope("/", {{"cookie", "a=1; b=2"}, {"cookie", "c=3"}}));
    BOOST_TEST(seen.size() == 3U);
    BOOST_TEST(seen["c"] == "3");
}

BOOST_AUTO_TEST_CASE(set_cookie_attributes) {
    canal::CookieOptions o;
    o.max_age = std::chrono::seconds(60);
    o.http_only = true;
    o.secure = true;
    auto h = canal::make_set_cookie("sessionid", "abc", o);
    BOOST_TEST(h.starts_with("sessionid=abc; expires="));
    BOOST_TEST(h.find("; Max-Age=60") != std::string::npos);
    BOOST_TEST(h.find("; Path=/") != std::string::npos);
    BOOST_TEST(h.find("; Secure") != std::string::npos);
    BOOST_TEST(h.find("; HttpOnly") != std::string::npos);
    BOOST_TEST(h.ends_with("; SameSite=Lax"));
    auto plain = canal::make_set_cookie("a", "b");
    BOOST_TEST(plain == "a=b; Path=/; SameSite=Lax");
    BOOST_CHECK_THROW(canal::make_set_cookie("a b", "x"), std::invalid_argument);
    BOOST_CHECK_THROW(canal::make_set_cookie("a", "x;y"), std::invalid_argument);
    BOOST_CHECK_THROW(canal::make_set_cookie("", "x"), std::invalid_argument);
    o.same_site = "lax!";
    BOOST_CHECK_THROW(canal::make_set_cookie("a", "b", o), std::invalid_argument);

    canal::HttpResponseStart start;
    canal::delete_cookie(start, "sessionid");
    BOOST_REQUIRE(start.headers.size() == 1U);
    BOOST_TEST(start.headers[0].first == "set-cookie");
    BOOST_TEST(start.headers[0].second.starts_with("sessionid=; Path=/"));
    BOOST_TEST(start.headers[0].second.find("Max-Age=0") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(secure_follows_the_scheme) {
    canal::Scope s;
    s.scheme = "https";
    BOOST_TEST(canal::is_secure(s));
    s.scheme = "wss";
    BOOST_TEST(canal::is_secure(s));
    s.scheme = "http";
    BOOST_TEST(!canal::is_secure(s));
}

BOOST_AUTO_TEST_SUITE_END()
