// ChannelNameRouter: a worker's "channel" scopes routed by channel name.
#include <canal/routing/channel_name_router.hpp>

#include <canal/core/errors.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace canal;

namespace {

// An application that records the channel of the scope it ran with.
Application recorder(std::shared_ptr<std::string> seen) {
    return [seen](Scope scope, Receive, Send) -> awaitable<void> {
        *seen = scope.channel;
        co_return;
    };
}

void run(awaitable<void> op) {
    net::io_context ioc;
    std::exception_ptr failure;
    net::co_spawn(ioc, std::move(op), [&](std::exception_ptr e) { failure = e; });
    ioc.run();
    if (failure) {
        std::rethrow_exception(failure);
    }
}

Scope channel_scope(std::string channel) {
    Scope scope;
    scope.type = "channel";
    scope.channel = std::move(channel);
    return scope;
}

bool message_contains(std::exception const& e, std::string const& text) {
    return std::string(e.what()).find(text) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(channel_name_router)

BOOST_AUTO_TEST_CASE(routes_by_channel_name) {
    auto a = std::make_shared<std::string>();
    auto b = std::make_shared<std::string>();
    ChannelNameRouter router({{"thumbnails", recorder(a)}, {"chat-moderation", recorder(b)}});
    run(router(channel_scope("chat-moderation"), {}, {}));
    BOOST_TEST(*b == "chat-moderation");
    BOOST_TEST(a->empty());
    BOOST_TEST(router.routes("thumbnails"));
    BOOST_TEST(!router.routes("other"));
    BOOST_TEST((router.channels() == std::vector<std::string>{"chat-moderation", "thumbnails"}));
}

BOOST_AUTO_TEST_CASE(unknown_channel_names_the_routed_ones) {
    ChannelNameRouter router({{"thumbnails", recorder(std::make_shared<std::string>())}});
    BOOST_CHECK_EXCEPTION(run(router(channel_scope("nope"), {}, {})), RouteNotFound,
                          [](RouteNotFound const& e) {
                              return message_contains(e, "channel name 'nope'") &&
                                     message_contains(e, "'thumbnails'");
                          });
}

BOOST_AUTO_TEST_CASE(a_scope_without_a_channel_is_refused) {
    ChannelNameRouter router({{"thumbnails", recorder(std::make_shared<std::string>())}});
    Scope websocket;
    websocket.type = "websocket";
    websocket.path = "/ws/";
    BOOST_CHECK_EXCEPTION(run(router(websocket, {}, {})), RouteNotFound,
                          [](RouteNotFound const& e) {
                              return message_contains(e, "'websocket' scope without a channel");
                          });
}

BOOST_AUTO_TEST_CASE(bad_entries_are_refused_when_built) {
    auto app = recorder(std::make_shared<std::string>());
    BOOST_CHECK_THROW(ChannelNameRouter({{"ok", Application{}}}), std::invalid_argument);
    std::vector<std::string> const bad_names{"", "with space", "specific.abc!def",
                                             std::string(100, 'x')};
    for (auto const& bad : bad_names) {
        BOOST_CHECK_THROW(ChannelNameRouter({{bad, app}}), std::invalid_argument);
    }
}

BOOST_AUTO_TEST_SUITE_END()
