// Small applications for server tests: an HTTP consumer answering at once, a websocket
// consumer that refuses, and a router putting them beside the consumer a test is about.
#pragma once

#include <canal/consumers/async_http_consumer.hpp>
#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>

#include <map>
#include <string>

namespace canal::test {

/** Answers every request with 200 and the 6 bytes `quick\n`. */
class QuickHttp : public AsyncHttpConsumer {
protected:
    awaitable<void> handle(std::string /*body*/) override {
        std::string body = "quick\n";
        co_await send_response(200, std::move(body));
    }
};

/** Refuses every websocket in connect() (HTTP 403). */
class RefusingWebsocket : public AsyncWebsocketConsumer {
protected:
    awaitable<void> connect() override { co_await close(); }
};

/**
 * Websocket `ws_path` served by `ws_app`, websocket `ws/no/` refused, HTTP `quick/` answered
 * by QuickHttp; anything else is not found.
 */
inline Application small_app(std::string const& ws_path, Application ws_app) {
    std::map<std::string, Application, std::less<>> routes;
    routes.emplace("websocket", URLRouter{{path(ws_path, std::move(ws_app)),
                                           path("ws/no/", as_app<RefusingWebsocket>())}});
    routes.emplace("http", URLRouter{{path("quick/", as_app<QuickHttp>())}});
    return ProtocolTypeRouter{std::move(routes)};
}

} // namespace canal::test
