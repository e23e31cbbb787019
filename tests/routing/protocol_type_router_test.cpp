// ProtocolTypeRouter: dispatch by scope.type, RouteNotFound for unknown types.
#include <canal/routing/protocol_type_router.hpp>

#include <canal/core/errors.hpp>
#include <canal/routing/url_router.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace canal;

namespace {

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

// Records who was called with which scope.
struct Log {
    std::vector<std::string> calls;
    std::optional<Scope> last_scope;
};

Application recorder(std::shared_ptr<Log> log, std::string name) {
    return [log, name](Scope scope, Receive, Send) -> awaitable<void> {
        log->calls.push_back(name);
        log->last_scope = std::move(scope);
        co_return;
    };
}

Scope make_scope(std::string type, std::string path = "/") {
    Scope scope;
    scope.type = std::move(type);
    scope.path = std::move(path);
    return scope;
}

bool message_contains(std::exception const& e, std::string const& text) {
    return std::string(e.what()).find(text) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(protocol_type_router)

BOOST_AUTO_TEST_CASE(dispatches_by_scope_type) {
    auto log = std::make_shared<Log>();
    ProtocolTypeRouter router(
        {{"http", recorder(log, "http")}, {"websocket", recorder(log, "websocket")}});

    run(router(make_scope("websocket", "/ws/"), {}, {}));
    run(router(make_scope("http", "/index"), {}, {}));

    BOOST_TEST(log->calls == (std::vector<std::string>{"websocket", "http"}));
    BOOST_TEST_REQUIRE(log->last_scope.has_value());
    BOOST_TEST(log->last_scope->path == "/index");
}

BOOST_AUTO_TEST_CASE(unknown_type_throws_route_not_found_naming_the_type) {
    auto log = std::make_shared<Log>();
    ProtocolTypeRouter router({{"http", recorder(log, "http")}});

    BOOST_CHECK_EXCEPTION(
        run(router(make_scope("websocket"), {}, {})), RouteNotFound, [](RouteNotFound const& e) {
            return message_contains(e, "'websocket'") && message_contains(e, "'http'");
        });
    BOOST_TEST(log->calls.empty());
}

BOOST_AUTO_TEST_CASE(empty_router_throws_route_not_found) {
    ProtocolTypeRouter router({});
    BOOST_CHECK_THROW(run(router(make_scope("http"), {}, {})), RouteNotFound);
}

BOOST_AUTO_TEST_CASE(empty_application_is_rejected_at_construction) {
    BOOST_CHECK_EXCEPTION(
        ProtocolTypeRouter({{"http", Application{}}}), std::invalid_argument,
        [](std::invalid_argument const& e) { return message_contains(e, "'http'"); });
}

BOOST_AUTO_TEST_CASE(application_errors_propagate) {
    Application failing = [](Scope, Receive, Send) -> awaitable<void> {
        throw std::runtime_error("boom");
        co_return;
    };
    ProtocolTypeRouter router({{"http", failing}});
    BOOST_CHECK_EXCEPTION(run(router(make_scope("http"), {}, {})), std::runtime_error,
                          [](std::runtime_error const& e) { return message_contains(e, "boom"); });
}

BOOST_AUTO_TEST_CASE(awaitable_outlives_the_router) {
    auto log = std::make_shared<Log>();
    std::optional<awaitable<void>> op;
    {
        ProtocolTypeRouter router({{"http", recorder(log, "http")}});
        op.emplace(router(make_scope("http"), {}, {}));
    }
    run(std::move(*op));
    BOOST_TEST(log->calls == (std::vector<std::string>{"http"}));
}

BOOST_AUTO_TEST_CASE(routes_to_url_router_which_fills_url_route) {
    auto log = std::make_shared<Log>();
    std::vector<Route> routes;
    routes.push_back(path("ws/chat/<room_name>/", recorder(log, "chat")));
    ProtocolTypeRouter router({{"websocket", URLRouter(std::move(routes))}});

    run(router(make_scope("websocket", "/ws/chat/lobby/"), {}, {}));
    BOOST_TEST(log->calls == (std::vector<std::string>{"chat"}));
    BOOST_TEST_REQUIRE(log->last_scope.has_value());
    BOOST_TEST(log->last_scope->url_route.kwargs.at("room_name") == "lobby");

    BOOST_CHECK_EXCEPTION(
        run(router(make_scope("websocket", "/ws/other/"), {}, {})), RouteNotFound,
        [](RouteNotFound const& e) { return message_contains(e, "'/ws/other/'"); });
}

BOOST_AUTO_TEST_SUITE_END()
