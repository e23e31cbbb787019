// path() converters: uuid, typed kwargs (int as an integer), register_converter(), and the
// values they refuse (no match, so the next route is tried).
#include <canal/routing/path_converter.hpp>

#include <canal/routing/url_router.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

using namespace canal;

namespace {

awaitable<void> app_a(Scope, Receive, Send) { co_return; }
awaitable<void> app_b(Scope, Receive, Send) { co_return; }

using AppFn = awaitable<void> (*)(Scope, Receive, Send);

AppFn target_of(RouteMatch const& m) {
    AppFn const* fn = m.app->target<AppFn>();
    return fn == nullptr ? nullptr : *fn;
}

bool message_contains(std::exception const& e, std::string const& text) {
    return std::string(e.what()).find(text) != std::string::npos;
}

// Django's FourDigitYearConverter, refusing year 0.
void register_year_once() {
    static bool const done = [] {
        register_converter(PathConverter{"[0-9]{4}",
                                         [](std::string_view text) {
                                             int const year = std::stoi(std::string(text));
                                             if (year == 0) {
                                                 throw std::invalid_argument("no year 0");
                                             }
                                             return boost::json::value(year);
                                         }},
                           "yyyy");
        return true;
    }();
    (void)done;
}

} // namespace

BOOST_AUTO_TEST_SUITE(typed_kwargs)

BOOST_AUTO_TEST_CASE(int_capture_is_an_integer_and_its_text_stays_in_kwargs) {
    URLRouter router({path("items/<int:id>/", app_a)});
    auto const m = router.match("items/007/");
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(m->url_route.kwargs.at("id") == "007");
    BOOST_TEST_REQUIRE(m->url_route.typed_kwargs.at("id").is_int64());
    std::int64_t const id = m->url_route.typed_kwargs.at("id").as_int64();
    BOOST_TEST(id + 1 == 8);
}

BOOST_AUTO_TEST_CASE(other_converters_and_regex_groups_give_strings) {
    URLRouter router({path("a/<str:s>/<slug:g>/<path:p>", app_a),
                      re_path(R"(^b/(?P<n>\d+)/$)", app_b)});
    auto const m = router.match("a/x/y-z/1/2");
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(m->url_route.typed_kwargs.at("s").as_string() == "x");
    BOOST_TEST(m->url_route.typed_kwargs.at("g").as_string() == "y-z");
    BOOST_TEST(m->url_route.typed_kwargs.at("p").as_string() == "1/2");
    auto const r = router.match("b/12/");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->url_route.typed_kwargs.at("n").as_string() == "12"); // re_path: text, as Django
}

BOOST_AUTO_TEST_CASE(an_int_over_64_bits_does_not_match_and_the_next_route_is_tried) {
    URLRouter router({path("items/<int:id>/", app_a), path("items/<str:name>/", app_b)});
    auto const big = router.match("items/99999999999999999999/");
    BOOST_TEST_REQUIRE(big.has_value());
    BOOST_TEST(target_of(*big) == app_b);
    BOOST_TEST(big->url_route.kwargs.at("name") == "99999999999999999999");
    BOOST_TEST(!big->url_route.typed_kwargs.contains("id"));
    URLRouter only_int({path("items/<int:id>/", app_a)});
    BOOST_TEST(!only_int.match("items/99999999999999999999/").has_value());
    BOOST_TEST(only_int.match("items/9223372036854775807/")->url_route.typed_kwargs.at("id") ==
               boost::json::value(INT64_MAX));
}

BOOST_AUTO_TEST_CASE(nested_routers_merge_typed_kwargs) {
    URLRouter router({path("v<int:version>/", URLRouter({path("items/<int:id>/", app_a)}))});
    auto const m = router.match("v2/items/5/");
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(m->url_route.typed_kwargs.at("version").as_int64() == 2);
    BOOST_TEST(m->url_route.typed_kwargs.at("id").as_int64() == 5);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(uuid_converter)

BOOST_AUTO_TEST_CASE(matches_djangos_lower_case_form) {
    URLRouter router({path("rooms/<uuid:id>/", app_a)});
    auto const m = router.match("rooms/12345678-9abc-def0-1234-56789abcdef0/");
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(m->url_route.typed_kwargs.at("id").as_string() ==
               "12345678-9abc-def0-1234-56789abcdef0");
}

BOOST_AUTO_TEST_CASE(refuses_other_forms) {
    URLRouter router({path("rooms/<uuid:id>/", app_a)});
    for (std::string const bad : {
             "rooms/12345678-9ABC-DEF0-1234-56789ABCDEF0/", // upper case: Django refuses it too
             "rooms/123456789abcdef0123456789abcdef0/",     // no dashes
             "rooms/12345678-9abc-def0-1234-56789abcdef/",  // one digit short
             "rooms/12345678-9abc-def0-1234-56789abcdef0x/",
             "rooms/g2345678-9abc-def0-1234-56789abcdef0/",
             "rooms//",
         }) {
        BOOST_TEST(!router.match(bad).has_value(), bad);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(register_converter_)

BOOST_AUTO_TEST_CASE(a_registered_converter_matches_and_converts) {
    register_year_once();
    URLRouter router({path("articles/<yyyy:year>/", app_a), path("articles/<str:other>/", app_b)});
    auto const m = router.match("articles/2024/");
    BOOST_TEST_REQUIRE(m.has_value());
    BOOST_TEST(target_of(*m) == app_a);
    BOOST_TEST(m->url_route.typed_kwargs.at("year").as_int64() == 2024);
    BOOST_TEST(m->url_route.kwargs.at("year") == "2024");
    // Its regex is respected, and a refused value falls through to the next route.
    BOOST_TEST(target_of(*router.match("articles/202/")) == app_b);
    BOOST_TEST(target_of(*router.match("articles/0000/")) == app_b);
    auto const names = registered_converters();
    BOOST_TEST((std::find(names.begin(), names.end(), "yyyy") != names.end()));
}

BOOST_AUTO_TEST_CASE(bad_registrations_are_refused_with_the_reason) {
    register_year_once();
    auto says = [](std::string const& text) {
        return [text](std::invalid_argument const& e) { return message_contains(e, text); };
    };
    BOOST_CHECK_EXCEPTION(register_converter(PathConverter{"[0-9]+", {}}, "int"),
                          std::invalid_argument, says("already registered"));
    BOOST_CHECK_EXCEPTION(register_converter(PathConverter{"[0-9]+", {}}, "yyyy"),
                          std::invalid_argument, says("already registered"));
    BOOST_CHECK_EXCEPTION(register_converter(PathConverter{"[0-9", {}}, "broken"),
                          std::invalid_argument, says("'broken' has an invalid regex"));
    BOOST_CHECK_EXCEPTION(register_converter(PathConverter{"", {}}, "empty"),
                          std::invalid_argument, says("empty regex"));
    BOOST_CHECK_EXCEPTION(register_converter(PathConverter{"x", {}}, "1x"), std::invalid_argument,
                          says("invalid name"));
    BOOST_CHECK_EXCEPTION(register_converter(PathConverter{"x", {}}, "a-b"), std::invalid_argument,
                          says("invalid name"));
    // A refused registration leaves no trace.
    BOOST_CHECK_THROW(path("x/<broken:b>/", app_a), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(an_unknown_converter_lists_the_known_ones) {
    register_year_once();
    auto lists = [](std::invalid_argument const& e) {
        return message_contains(e, "unknown converter 'float'") &&
               message_contains(e, "int, path, slug, str, uuid, yyyy") &&
               message_contains(e, "register_converter");
    };
    BOOST_CHECK_EXCEPTION(path("a/<float:x>/", app_a), std::invalid_argument, lists);
}

BOOST_AUTO_TEST_SUITE_END()
