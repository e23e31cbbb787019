// URLRouter, path() and re_path(): matching, captures, nesting, errors, and running as an app.
#include <canal/routing/url_router.hpp>

#include <canal/core/errors.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace canal;

namespace {

using AppFn = awaitable<void> (*)(Scope, Receive, Send);
using Kwargs = std::map<std::string, std::string, std::less<>>;
using Args = std::vector<std::string>;

// Distinct applications, told apart in a RouteMatch by the function they hold.
awaitable<void> app_a(Scope, Receive, Send) { co_return; }
awaitable<void> app_b(Scope, Receive, Send) { co_return; }
awaitable<void> app_c(Scope, Receive, Send) { co_return; }

AppFn target_of(RouteMatch const& m) {
    BOOST_TEST_REQUIRE(m.app != nullptr);
    AppFn const* fn = m.app->target<AppFn>();
    return fn == nullptr ? nullptr : *fn;
}

// True when `router` routes `path` to `app` with these captures.
bool routes_to(URLRouter const& router, std::string_view path, AppFn app, Kwargs kwargs = {},
               Args args = {}) {
    auto const m = router.match(path);
    if (!m) {
        BOOST_TEST_MESSAGE("no match for '" << path << "'");
        return false;
    }
    bool const ok =
        target_of(*m) == app && m->url_route.kwargs == kwargs && m->url_route.args == args;
    if (!ok) {
        BOOST_TEST_MESSAGE("unexpected match for '" << path << "'");
    }
    return ok;
}

bool no_match(URLRouter const& router, std::string_view path) {
    return !router.match(path).has_value();
}

bool message_contains(std::exception const& e, std::string const& text) {
    return std::string(e.what()).find(text) != std::string::npos;
}

// Runs one application call to completion and rethrows what it threw.
void run(awaitable<void> op) {
    net::io_context ioc;
    bool finished = false;
    std::exception_ptr failure;
    net::co_spawn(ioc, std::move(op), [&](std::exception_ptr e) {
        finished = true;
        failure = e;
    });
    ioc.run();
    BOOST_TEST_REQUIRE(finished);
    if (failure) {
        std::rethrow_exception(failure);
    }
}

struct Log {
    int calls = 0;
    std::optional<Scope> scope;
};

// An application that records the scope it was given.
Application recorder(std::shared_ptr<Log> log) {
    return [log](Scope scope, Receive, Send) -> awaitable<void> {
        ++log->calls;
        log->scope = std::move(scope);
        co_return;
    };
}

Scope websocket_scope(std::string path) {
    Scope scope;
    scope.type = "websocket";
    scope.path = std::move(path);
    return scope;
}

} // namespace

BOOST_AUTO_TEST_SUITE(path_converters)

BOOST_AUTO_TEST_CASE(str_matches_one_segment) {
    URLRouter router({path("chat/<str:room>/", app_a)});
    BOOST_TEST(routes_to(router, "chat/lobby/", app_a, {{"room", "lobby"}}));
    BOOST_TEST(routes_to(router, "chat/a.b-c~d/", app_a, {{"room", "a.b-c~d"}}));
    BOOST_TEST(no_match(router, "chat/a/b/"));
    BOOST_TEST(no_match(router, "chat//"));
}

BOOST_AUTO_TEST_CASE(bare_name_means_str) {
    URLRouter router({path("chat/<room>/", app_a)});
    BOOST_TEST(routes_to(router, "chat/lobby/", app_a, {{"room", "lobby"}}));
    BOOST_TEST(no_match(router, "chat/a/b/"));
}

BOOST_AUTO_TEST_CASE(int_matches_digits_and_keeps_them_as_a_string) {
    URLRouter router({path("items/<int:id>/", app_a)});
    BOOST_TEST(routes_to(router, "items/42/", app_a, {{"id", "42"}}));
    BOOST_TEST(routes_to(router, "items/007/", app_a, {{"id", "007"}}));
    BOOST_TEST(no_match(router, "items/abc/"));
    BOOST_TEST(no_match(router, "items/-1/"));
    BOOST_TEST(no_match(router, "items/4x/"));
    BOOST_TEST(no_match(router, "items//"));
}

BOOST_AUTO_TEST_CASE(slug_matches_letters_digits_dash_underscore) {
    URLRouter router({path("post/<slug:s>/", app_a)});
    BOOST_TEST(routes_to(router, "post/Hello-world_2/", app_a, {{"s", "Hello-world_2"}}));
    BOOST_TEST(no_match(router, "post/a b/"));
    BOOST_TEST(no_match(router, "post/a.b/"));
    BOOST_TEST(no_match(router, "post/a/b/"));
}

BOOST_AUTO_TEST_CASE(path_matches_slashes) {
    URLRouter router({path("files/<path:rest>", app_a)});
    BOOST_TEST(routes_to(router, "files/a/b/c", app_a, {{"rest", "a/b/c"}}));
    BOOST_TEST(routes_to(router, "files/x", app_a, {{"rest", "x"}}));
    BOOST_TEST(no_match(router, "files/"));
}

BOOST_AUTO_TEST_CASE(several_parameters) {
    URLRouter router({path("u/<int:user>/<slug:post>/<path:tail>", app_a)});
    BOOST_TEST(routes_to(router, "u/7/my-post/x/y", app_a,
                         {{"user", "7"}, {"post", "my-post"}, {"tail", "x/y"}}));
    BOOST_TEST(no_match(router, "u/seven/my-post/x"));
}

BOOST_AUTO_TEST_CASE(long_path_is_matched_without_trouble) {
    URLRouter router({path("files/<path:rest>", app_a), path("<str:one>", app_b)});
    std::string const segment(8000, 'x');
    BOOST_TEST(routes_to(router, "files/" + segment, app_a, {{"rest", segment}}));
    BOOST_TEST(routes_to(router, segment, app_b, {{"one", segment}}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(path_matching)

BOOST_AUTO_TEST_CASE(leading_slash_is_stripped) {
    URLRouter router({path("chat/<room>/", app_a)});
    BOOST_TEST(routes_to(router, "/chat/lobby/", app_a, {{"room", "lobby"}}));
    BOOST_TEST(routes_to(router, "chat/lobby/", app_a, {{"room", "lobby"}}));
}

BOOST_AUTO_TEST_CASE(root_path_matches_empty_pattern) {
    URLRouter router({path("", app_a)});
    BOOST_TEST(routes_to(router, "/", app_a));
    BOOST_TEST(routes_to(router, "", app_a));
    BOOST_TEST(no_match(router, "/x"));
}

BOOST_AUTO_TEST_CASE(trailing_slash_must_match_exactly) {
    URLRouter with_slash({path("chat/<room>/", app_a)});
    BOOST_TEST(no_match(with_slash, "chat/lobby"));
    URLRouter without_slash({path("chat/<room>", app_a)});
    BOOST_TEST(no_match(without_slash, "chat/lobby/"));
    BOOST_TEST(routes_to(without_slash, "chat/lobby", app_a, {{"room", "lobby"}}));
}

BOOST_AUTO_TEST_CASE(leaf_matches_the_whole_path) {
    URLRouter router({path("chat/", app_a)});
    BOOST_TEST(no_match(router, "chat/extra"));
    BOOST_TEST(no_match(router, "xchat/"));
    BOOST_TEST(routes_to(router, "chat/", app_a));
}

BOOST_AUTO_TEST_CASE(literal_parts_are_not_regex) {
    URLRouter router({path("v1.0/a+b/(x)/<id>", app_a)});
    BOOST_TEST(routes_to(router, "v1.0/a+b/(x)/7", app_a, {{"id", "7"}}));
    BOOST_TEST(no_match(router, "v1x0/a+b/(x)/7"));
    BOOST_TEST(no_match(router, "v1.0/aab/(x)/7"));
    BOOST_TEST(no_match(router, "v1.0/a+b/x/7"));
}

BOOST_AUTO_TEST_CASE(first_match_wins) {
    URLRouter router({
        path("chat/<int:id>/", app_a),
        path("chat/<str:name>/", app_b),
        path("chat/lobby/", app_c),
    });
    BOOST_TEST(routes_to(router, "chat/12/", app_a, {{"id", "12"}}));
    BOOST_TEST(routes_to(router, "chat/lobby/", app_b, {{"name", "lobby"}}));
}

BOOST_AUTO_TEST_CASE(later_routes_are_tried_when_earlier_ones_fail) {
    URLRouter router({path("a/", app_a), path("b/", app_b)});
    BOOST_TEST(routes_to(router, "b/", app_b));
}

BOOST_AUTO_TEST_CASE(no_match_gives_nullopt) {
    URLRouter router({path("chat/<room>/", app_a)});
    BOOST_TEST(no_match(router, "other/"));
    BOOST_TEST(no_match(router, ""));
    URLRouter empty({});
    BOOST_TEST(no_match(empty, "/"));
}

BOOST_AUTO_TEST_CASE(pattern_text_is_kept) {
    BOOST_TEST(path("chat/<int:id>/", app_a).pattern_text() == "chat/<int:id>/");
    BOOST_TEST(re_path(R"(^x/(?P<a>\d+)$)", app_a).pattern_text() == R"(^x/(?P<a>\d+)$)");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(nesting)

BOOST_AUTO_TEST_CASE(two_levels_collect_kwargs_of_both) {
    URLRouter rooms({path("room/<room>/", app_a), path("room/<room>/<int:msg>/", app_b)});
    URLRouter orgs({path("org/<slug:org>/", rooms)});
    URLRouter root({path("api/<int:version>/", orgs)});

    BOOST_TEST(routes_to(root, "/api/2/org/acme/room/lobby/", app_a,
                         {{"version", "2"}, {"org", "acme"}, {"room", "lobby"}}));
    BOOST_TEST(routes_to(root, "api/2/org/acme/room/lobby/9/", app_b,
                         {{"version", "2"}, {"org", "acme"}, {"room", "lobby"}, {"msg", "9"}}));
    BOOST_TEST(no_match(root, "api/2/org/acme/"));
    BOOST_TEST(no_match(root, "api/x/org/acme/room/lobby/"));
    BOOST_TEST(no_match(root, "api/2/org/acme/room/lobby/extra"));
}

BOOST_AUTO_TEST_CASE(inner_prefix_pattern_with_path_converter) {
    // A path converter in a prefix takes everything, leaving an empty rest for the inner router.
    URLRouter inner({path("", app_a)});
    URLRouter root({path("static/<path:file>", inner)});
    BOOST_TEST(routes_to(root, "static/css/site.css", app_a, {{"file", "css/site.css"}}));
}

BOOST_AUTO_TEST_CASE(inner_captures_override_outer_ones_with_the_same_name) {
    URLRouter inner({path("<id>/", app_a)});
    URLRouter root({path("x/<id>/", inner)});
    BOOST_TEST(routes_to(root, "x/outer/inner/", app_a, {{"id", "inner"}}));
}

BOOST_AUTO_TEST_CASE(falls_through_when_inner_router_has_no_match) {
    URLRouter inner({path("a/", app_a)});
    URLRouter root({path("chat/", inner), path("chat/b/", app_b)});
    BOOST_TEST(routes_to(root, "chat/a/", app_a));
    BOOST_TEST(routes_to(root, "chat/b/", app_b));
    BOOST_TEST(no_match(root, "chat/c/"));
}

BOOST_AUTO_TEST_CASE(inner_router_sees_the_rest_without_its_leading_slash) {
    URLRouter inner({path("<room>/", app_a)});
    URLRouter root({path("chat", inner)});
    BOOST_TEST(routes_to(root, "chat/lobby/", app_a, {{"room", "lobby"}}));
}

BOOST_AUTO_TEST_CASE(re_path_outer_and_path_inner) {
    URLRouter inner({path("<room>/", app_a)});
    URLRouter root({re_path(R"(^v(?P<version>\d+)/)", inner)});
    BOOST_TEST(routes_to(root, "v3/lobby/", app_a, {{"version", "3"}, {"room", "lobby"}}));
    BOOST_TEST(no_match(root, "vx/lobby/"));
}

BOOST_AUTO_TEST_CASE(args_of_both_levels_are_appended) {
    URLRouter inner({re_path(R"(^(\w+)/$)", app_a)});
    URLRouter root({re_path(R"(^(\d+)/)", inner)});
    BOOST_TEST(routes_to(root, "12/abc/", app_a, {}, {"12", "abc"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(regex_routes)

BOOST_AUTO_TEST_CASE(python_named_groups) {
    URLRouter router({re_path(R"(^ws/chat/(?P<room_name>\w+)/$)", app_a)});
    BOOST_TEST(routes_to(router, "/ws/chat/lobby/", app_a, {{"room_name", "lobby"}}));
    BOOST_TEST(no_match(router, "ws/chat/lob-by/"));
}

BOOST_AUTO_TEST_CASE(ecmascript_named_groups) {
    URLRouter router({re_path(R"(^ws/(?<kind>[a-z]+)/(?<id>\d+)/$)", app_a)});
    BOOST_TEST(routes_to(router, "ws/room/42/", app_a, {{"kind", "room"}, {"id", "42"}}));
    BOOST_TEST(no_match(router, "ws/room/x/"));
}

BOOST_AUTO_TEST_CASE(unnamed_groups_go_to_args_in_order) {
    URLRouter router({re_path(R"(^(\w+)/(\d+)/$)", app_a)});
    BOOST_TEST(routes_to(router, "chat/7/", app_a, {}, {"chat", "7"}));
}

BOOST_AUTO_TEST_CASE(unnamed_groups_are_ignored_when_named_groups_exist) {
    URLRouter router({re_path(R"(^(\w+)/(?P<id>\d+)/$)", app_a)});
    BOOST_TEST(routes_to(router, "chat/7/", app_a, {{"id", "7"}}));
}

BOOST_AUTO_TEST_CASE(non_capturing_groups_escapes_and_classes_are_not_counted) {
    URLRouter router({re_path(R"(^(?:a|b)\(x\)[(](?=\d)(?P<n>\d+)[)]$)", app_a)});
    BOOST_TEST(routes_to(router, "b(x)(12)", app_a, {{"n", "12"}}));
    BOOST_TEST(no_match(router, "c(x)(12)"));
}

BOOST_AUTO_TEST_CASE(group_that_did_not_take_part_is_left_out) {
    URLRouter router({re_path(R"(^x/(?P<a>\d+)?(?P<b>[a-z]+)?$)", app_a)});
    BOOST_TEST(routes_to(router, "x/abc", app_a, {{"b", "abc"}}));
    BOOST_TEST(routes_to(router, "x/12", app_a, {{"a", "12"}}));
}

BOOST_AUTO_TEST_CASE(named_backreferences) {
    URLRouter router(
        {re_path(R"(^(?P<w>[a-z]+)-(?P=w)$)", app_a), re_path(R"(^(?<v>[0-9]+)-\k<v>$)", app_b)});
    BOOST_TEST(routes_to(router, "ab-ab", app_a, {{"w", "ab"}}));
    BOOST_TEST(no_match(router, "ab-ac"));
    BOOST_TEST(routes_to(router, "12-12", app_b, {{"v", "12"}}));
    BOOST_TEST(no_match(router, "12-13"));
}

BOOST_AUTO_TEST_CASE(without_dollar_a_prefix_is_enough) {
    URLRouter router({re_path(R"(^chat/(?P<room>\w+))", app_a)});
    BOOST_TEST(routes_to(router, "chat/lobby/anything/else", app_a, {{"room", "lobby"}}));
}

BOOST_AUTO_TEST_CASE(with_dollar_the_whole_path_must_match) {
    URLRouter router({re_path(R"(^chat/(?P<room>\w+)/$)", app_a)});
    BOOST_TEST(no_match(router, "chat/lobby/extra"));
    BOOST_TEST(routes_to(router, "chat/lobby/", app_a, {{"room", "lobby"}}));
}

BOOST_AUTO_TEST_CASE(python_anchors_are_translated) {
    URLRouter router({re_path(R"(\Achat/(?P<room>\w+)/\Z)", app_a)});
    BOOST_TEST(routes_to(router, "chat/lobby/", app_a, {{"room", "lobby"}}));
    BOOST_TEST(no_match(router, "chat/lobby/x"));
}

BOOST_AUTO_TEST_CASE(match_is_anchored_at_the_start) {
    URLRouter router({re_path(R"(chat/)", app_a)});
    BOOST_TEST(routes_to(router, "chat/x", app_a));
    BOOST_TEST(no_match(router, "xchat/"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(invalid_patterns)

BOOST_AUTO_TEST_CASE(path_errors_name_the_pattern) {
    auto names = [](std::string const& pattern, std::string const& detail) {
        return [pattern, detail](std::invalid_argument const& e) {
            return message_contains(e, "'" + pattern + "'") && message_contains(e, detail);
        };
    };
    BOOST_CHECK_EXCEPTION(path("a/<float:x>/", app_a), std::invalid_argument,
                          names("a/<float:x>/", "unknown converter 'float'"));
    BOOST_CHECK_EXCEPTION(path("a/<int:x/", app_a), std::invalid_argument,
                          names("a/<int:x/", "no closing '>'"));
    BOOST_CHECK_EXCEPTION(path("a/<>/", app_a), std::invalid_argument, names("a/<>/", "''"));
    BOOST_CHECK_EXCEPTION(path("a/<int:>/", app_a), std::invalid_argument,
                          names("a/<int:>/", "parameter name"));
    BOOST_CHECK_EXCEPTION(path("a/<:x>/", app_a), std::invalid_argument,
                          names("a/<:x>/", "unknown converter ''"));
    BOOST_CHECK_EXCEPTION(path("a/<int:1x>/", app_a), std::invalid_argument,
                          names("a/<int:1x>/", "'1x'"));
    BOOST_CHECK_EXCEPTION(path("a/<str:a b>/", app_a), std::invalid_argument,
                          names("a/<str:a b>/", "'a b'"));
    BOOST_CHECK_EXCEPTION(path("a/<int:x:y>/", app_a), std::invalid_argument,
                          names("a/<int:x:y>/", "'x:y'"));
    BOOST_CHECK_EXCEPTION(path("<x>/<int:x>/", app_a), std::invalid_argument,
                          names("<x>/<int:x>/", "more than once"));
    BOOST_CHECK_EXCEPTION(path("/chat/", app_a), std::invalid_argument,
                          names("/chat/", "leading '/'"));
    BOOST_CHECK_THROW(path("a/<b", URLRouter({})), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(re_path_errors_name_the_pattern) {
    auto names = [](std::string const& pattern) {
        return [pattern](std::invalid_argument const& e) {
            return message_contains(e, "'" + pattern + "'");
        };
    };
    for (std::string const pattern : {
             "^(abc$",
             "^abc)$",
             "^[abc$",
             "^(?P<x\\d+)$",
             "^(?P<1x>a)$",
             "^(?P<x>a)(?<x>b)$",
             "^(?P=nope)$",
             "^(?Px)$",
             "abc\\",
         }) {
        BOOST_TEST_CONTEXT("pattern " << pattern) {
            BOOST_CHECK_EXCEPTION(re_path(pattern, app_a), std::invalid_argument, names(pattern));
        }
    }
    BOOST_CHECK_THROW(re_path("(", URLRouter({})), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(re_path_refuses_huge_repetition_counts) {
    // Found by fuzzing: libstdc++'s std::regex overflows a long on such a count (undefined
    // behaviour), and builds one state per repetition below that.
    auto over = [](std::invalid_argument const& e) {
        return message_contains(e, "repetition count") && message_contains(e, "over 1000");
    };
    BOOST_CHECK_EXCEPTION(re_path("^a{2,88888888888888888888885}$", app_a), std::invalid_argument,
                          over);
    BOOST_CHECK_EXCEPTION(re_path("^a{1001}$", app_a), std::invalid_argument, over);
    // Counts up to 1000, escaped braces and braces in a class still work.
    BOOST_TEST(URLRouter({re_path("^a{2,1000}$", app_a)}).match("aaa").has_value());
    BOOST_TEST(URLRouter({re_path("^x\\{9999\\}$", app_a)}).match("x{9999}").has_value());
    BOOST_TEST(URLRouter({re_path("^[{]$", app_a)}).match("{").has_value());
    // A brace that starts no quantifier is a literal, as in Python's re.
    BOOST_TEST(URLRouter({re_path("^a{3,99999999999999999999$", app_a)})
                   .match("a{3,99999999999999999999")
                   .has_value());
    BOOST_TEST(URLRouter({re_path("^{x}/}$", app_a)}).match("{x}/}").has_value());
}

BOOST_AUTO_TEST_CASE(re_path_refuses_multiple_repeats_and_dangling_backreferences) {
    // Python's re: "multiple repeat". std::regex took `(.**)` and backtracked for seconds on
    // a 30-byte path (found by fuzzing).
    auto multiple = [](std::invalid_argument const& e) {
        return message_contains(e, "multiple repeat");
    };
    for (std::string const pattern : {"^files/(.**)$", "^a+*$", "^a{2}*$", "^a*??$"}) {
        BOOST_TEST_CONTEXT("pattern " << pattern) {
            BOOST_CHECK_EXCEPTION(re_path(pattern, app_a), std::invalid_argument, multiple);
        }
    }
    // Numbered backreferences name a group opened before them (libstdc++ overflowed on
    // `\2222...`: found by fuzzing).
    auto no_group = [](std::invalid_argument const& e) {
        return message_contains(e, "names no group");
    };
    BOOST_CHECK_EXCEPTION(re_path("^(a)\\2$", app_a), std::invalid_argument, no_group);
    BOOST_CHECK_EXCEPTION(re_path("^(a)\\2222222222222222222222222$", app_a),
                          std::invalid_argument, no_group);
    BOOST_TEST(URLRouter({re_path("^(a)-\\1$", app_a)}).match("a-a").has_value());
    BOOST_TEST(!URLRouter({re_path("^(a)-\\1$", app_a)}).match("a-b").has_value());
    // Lazy quantifiers, a repeated group and quantifier characters in a class are fine.
    URLRouter router({re_path("^a*?b+?c??d{2}?(xy)*[*+?]$", app_a)});
    BOOST_TEST(router.match("bddxyxy+").has_value());
}

BOOST_AUTO_TEST_CASE(empty_application_is_rejected) {
    BOOST_CHECK_THROW(path("a/", Application{}), std::invalid_argument);
    BOOST_CHECK_THROW(re_path("^a/$", Application{}), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(as_application)

BOOST_AUTO_TEST_CASE(runs_the_target_with_url_route_filled) {
    auto log = std::make_shared<Log>();
    URLRouter router({path("other/", app_b), path("ws/chat/<room_name>/", recorder(log))});

    Scope scope = websocket_scope("/ws/chat/lobby/");
    scope.url_route.kwargs.emplace("kept", "yes");
    scope.url_route.kwargs.emplace("room_name", "overwritten");
    run(router(std::move(scope), {}, {}));

    BOOST_TEST(log->calls == 1);
    BOOST_TEST_REQUIRE(log->scope.has_value());
    BOOST_TEST(log->scope->path == "/ws/chat/lobby/");
    BOOST_TEST(log->scope->type == "websocket");
    BOOST_TEST((log->scope->url_route.kwargs == Kwargs{{"kept", "yes"}, {"room_name", "lobby"}}));
    BOOST_TEST(log->scope->url_route.args.empty());
}

BOOST_AUTO_TEST_CASE(nested_routers_fill_kwargs_of_every_level) {
    auto log = std::make_shared<Log>();
    URLRouter inner({re_path(R"(^(?P<msg>\d+)/$)", recorder(log))});
    URLRouter router({path("ws/<room>/", inner)});

    run(router(websocket_scope("/ws/lobby/5/"), {}, {}));
    BOOST_TEST_REQUIRE(log->scope.has_value());
    BOOST_TEST((log->scope->url_route.kwargs == Kwargs{{"room", "lobby"}, {"msg", "5"}}));
}

BOOST_AUTO_TEST_CASE(unknown_path_throws_route_not_found) {
    auto log = std::make_shared<Log>();
    URLRouter router({path("ws/chat/<room_name>/", recorder(log))});
    BOOST_CHECK_EXCEPTION(run(router(websocket_scope("/ws/nope/"), {}, {})), RouteNotFound,
                          [](RouteNotFound const& e) {
                              return message_contains(e, "No route found for path '/ws/nope/'");
                          });
    BOOST_TEST(log->calls == 0);
}

BOOST_AUTO_TEST_CASE(root_path_is_removed_before_matching) {
    auto log = std::make_shared<Log>();
    URLRouter router({path("ws/<room>/", recorder(log))});

    Scope scope = websocket_scope("/app/ws/lobby/");
    scope.root_path = "/app";
    run(router(std::move(scope), {}, {}));
    BOOST_TEST_REQUIRE(log->scope.has_value());
    BOOST_TEST(log->scope->url_route.kwargs.at("room") == "lobby");

    Scope outside = websocket_scope("/ws/lobby/");
    outside.root_path = "/app";
    BOOST_CHECK_EXCEPTION(run(router(std::move(outside), {}, {})), RouteNotFound,
                          [](RouteNotFound const& e) { return message_contains(e, "root_path"); });
}

BOOST_AUTO_TEST_CASE(application_errors_propagate) {
    Application failing = [](Scope, Receive, Send) -> awaitable<void> {
        throw std::runtime_error("consumer failed");
        co_return;
    };
    URLRouter router({path("x/", failing)});
    BOOST_CHECK_EXCEPTION(
        run(router(websocket_scope("/x/"), {}, {})), std::runtime_error,
        [](std::runtime_error const& e) { return message_contains(e, "consumer failed"); });
}

BOOST_AUTO_TEST_CASE(awaitable_outlives_the_router) {
    auto log = std::make_shared<Log>();
    std::optional<awaitable<void>> op;
    {
        URLRouter router({path("x/<id>/", recorder(log))});
        op.emplace(router(websocket_scope("/x/1/"), {}, {}));
    }
    run(std::move(*op));
    BOOST_TEST(log->calls == 1);
    BOOST_TEST_REQUIRE(log->scope.has_value());
    BOOST_TEST(log->scope->url_route.kwargs.at("id") == "1");
}

BOOST_AUTO_TEST_CASE(copies_share_the_routes_and_a_moved_router_still_routes) {
    auto log = std::make_shared<Log>();
    URLRouter router({path("x/<id>/", recorder(log))});
    URLRouter copy = router;
    URLRouter taken = std::move(router);
    run(copy(websocket_scope("/x/1/"), {}, {}));
    run(taken(websocket_scope("/x/2/"), {}, {}));
    run(router(websocket_scope("/x/3/"), {}, {})); // NOLINT(bugprone-use-after-move): the point
    BOOST_TEST(log->calls == 3);
    BOOST_TEST_REQUIRE(log->scope.has_value());
    BOOST_TEST(log->scope->url_route.kwargs.at("id") == "3");
}

BOOST_AUTO_TEST_CASE(router_stored_as_an_application) {
    auto log = std::make_shared<Log>();
    Application app = URLRouter({path("x/", recorder(log))});
    run(app(websocket_scope("/x/"), {}, {}));
    BOOST_TEST(log->calls == 1);
    BOOST_CHECK_THROW(run(app(websocket_scope("/y/"), {}, {})), RouteNotFound);
}

BOOST_AUTO_TEST_SUITE_END()
