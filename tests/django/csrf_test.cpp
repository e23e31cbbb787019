// Django's CSRF tokens: what Django masks canal unmasks, and what canal masks unmasks again.
#include <canal/django/csrf.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <iterator>
#include <stdexcept>

using namespace canal::django;

BOOST_AUTO_TEST_SUITE(csrf)

BOOST_AUTO_TEST_CASE(tokens_round_trip_with_djangos) {
    std::ifstream in(CANAL_DJANGO_VECTORS);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto const v = boost::json::parse(text).at("csrf").as_object();
    std::string const secret(v.at("secret").as_string());
    std::string const masked(v.at("masked").as_string());
    BOOST_TEST(csrf_unmask(masked) == secret);
    BOOST_TEST(csrf_secret_from_cookie(masked).value_or("") == secret); // Django 3.2's cookie
    BOOST_TEST(csrf_secret_from_cookie(secret).value_or("") == secret); // Django 4.1+'s cookie
    auto const a = csrf_mask(secret);
    auto const b = csrf_mask(secret);
    BOOST_TEST(a.size() == 64u);
    BOOST_TEST(a != b); // a fresh mask each time (BREACH)
    BOOST_TEST(csrf_unmask(a) == secret);
    BOOST_TEST(csrf_unmask(b) == secret);
}

BOOST_AUTO_TEST_CASE(malformed_cookies_and_secrets_are_refused) {
    BOOST_TEST(!csrf_secret_from_cookie(""));
    BOOST_TEST(!csrf_secret_from_cookie("short"));
    BOOST_TEST(!csrf_secret_from_cookie(std::string(32, '-')));
    BOOST_TEST(!csrf_secret_from_cookie(std::string(63, 'a')));
    BOOST_CHECK_THROW(csrf_mask("short"), std::invalid_argument);
    BOOST_CHECK_THROW(csrf_mask(std::string(32, '!')), std::invalid_argument);
    BOOST_CHECK_THROW(csrf_unmask(std::string(64, '%')), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
