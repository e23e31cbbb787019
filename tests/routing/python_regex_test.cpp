// re_path() reads Python's `re` syntax as users paste it from their Channels routing.
#include <canal/routing/url_router.hpp>

#include <canal/core/errors.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <stdexcept>
#include <string>

using namespace canal;

namespace {

awaitable<void> app_a(Scope, Receive, Send) { co_return; }

using Kwargs = std::map<std::string, std::string, std::less<>>;

std::optional<Kwargs> kwargs_of(std::string_view regex, std::string_view path) {
    URLRouter router({re_path(regex, app_a)});
    auto const m = router.match(path);
    if (!m) {
        return std::nullopt;
    }
    return m->url_route.kwargs;
}

} // namespace

BOOST_AUTO_TEST_SUITE(python_regex_syntax)

BOOST_AUTO_TEST_CASE(channels_tutorial_and_usual_classes) {
    // The Channels tutorial's routing.py.
    BOOST_TEST((kwargs_of(R"(ws/chat/(?P<room_name>\w+)/$)", "ws/chat/lobby/") ==
                Kwargs{{"room_name", "lobby"}}));
    auto const pattern = R"(^api/(?P<kind>[a-z_]+)/(?P<id>\d{1,6})/(?P<rest>[^/]*)\s?$)";
    BOOST_TEST((kwargs_of(pattern, "api/user_x/42/abc") ==
                Kwargs{{"kind", "user_x"}, {"id", "42"}, {"rest", "abc"}}));
    BOOST_TEST(!kwargs_of(pattern, "api/user/1234567/abc"));
    BOOST_TEST(!kwargs_of(pattern, "api/User/1/abc"));
}

BOOST_AUTO_TEST_CASE(lookbehind_inline_flags_and_possessive_quantifiers_work_as_in_python) {
    BOOST_TEST(kwargs_of(R"(^x/(?<=x/)(?P<a>\d+)$)", "x/12").has_value());
    BOOST_TEST(!kwargs_of(R"(^x/(?<!x/)(?P<a>\d+)$)", "x/12").has_value());
    BOOST_TEST(kwargs_of(R"((?i)^chat/(?P<room>[a-z]+)/$)", "CHAT/Lobby/").has_value());
    BOOST_TEST(kwargs_of(R"(^a?+b$)", "ab").has_value()); // Python 3.11's possessive form
    BOOST_TEST(kwargs_of(R"(^a{,2}$)", "aa").has_value()); // Python's {,n}
    BOOST_TEST(!kwargs_of(R"(^a{,2}$)", "aaa").has_value());
}

BOOST_AUTO_TEST_CASE(anchors_and_dots_mean_what_they_mean_in_python) {
    // \Z is the very end; `.` does not match a newline; `^` does not match after one.
    BOOST_TEST(!kwargs_of(R"(^chat/\Z)", "chat/\n").has_value());
    BOOST_TEST(kwargs_of(R"(^chat/\Z)", "chat/").has_value());
    BOOST_TEST(!kwargs_of(R"(^a.b$)", "a\nb").has_value());
    BOOST_TEST(!kwargs_of(R"(^x$)", "y\nx").has_value());
}

BOOST_AUTO_TEST_CASE(classes_are_ascii) {
    // Python's str patterns match Unicode digits and letters with \d and \w; canal's are
    // ASCII (Python's re.ASCII), documented in url_router.hpp.
    BOOST_TEST(!kwargs_of(R"(^(?P<n>\d+)$)", "\xd9\xa1\xd9\xa2").has_value());
    BOOST_TEST(kwargs_of(R"(^(?P<n>[^/]+)$)", "caf\xc3\xa9").has_value());
}

BOOST_AUTO_TEST_CASE(a_pattern_that_backtracks_without_end_fails_instead_of_hanging) {
    URLRouter router({re_path(R"(^(x+x+)+y$)", app_a)});
    auto const start = std::chrono::steady_clock::now();
    BOOST_CHECK_THROW(router.match(std::string(3000, 'x')), canal::Error);
    bool const quick = std::chrono::steady_clock::now() - start < std::chrono::seconds(5);
    BOOST_TEST(quick);
}

BOOST_AUTO_TEST_CASE(invalid_patterns_fail_at_definition_with_the_reason) {
    auto says = [](std::string const& text) {
        return [text](std::invalid_argument const& e) {
            return std::string(e.what()).find(text) != std::string::npos;
        };
    };
    BOOST_CHECK_EXCEPTION(re_path(R"(^(?P<room>\w+$)", app_a), std::invalid_argument,
                          says("re_path() pattern '^(?P<room>\\w+$' is invalid"));
    BOOST_CHECK_EXCEPTION(re_path(R"(^(?P<a>x)(?P<a>y)$)", app_a), std::invalid_argument,
                          says("group name 'a' is used twice"));
    BOOST_CHECK_EXCEPTION(re_path(R"(^(?P<a>x)(?P=b)$)", app_a), std::invalid_argument,
                          says("group 'b', which is not defined"));
    BOOST_CHECK_EXCEPTION(re_path(R"(^x**$)", app_a), std::invalid_argument,
                          says("multiple repeat"));
    BOOST_CHECK_EXCEPTION(re_path(R"(^(a)\2$)", app_a), std::invalid_argument,
                          says("names no group"));
}

BOOST_AUTO_TEST_SUITE_END()
