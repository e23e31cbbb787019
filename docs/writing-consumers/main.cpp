// guide_server: the consumers of docs/writing-consumers.md behind one router.
#include "guide/announce_view.hpp"
#include "guide/clock_consumer.hpp"
#include "guide/echo_consumer.hpp"
#include "guide/raw_echo_consumer.hpp"
#include "guide/token_auth_middleware.hpp"

#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/server/server.hpp>

#include <chrono>
#include <map>
#include <string>

int main(int argc, char** argv) {
    auto settings = canal::Settings::from_args(argc, argv);
    TokenAuthMiddleware::Tokens tokens;
    tokens.emplace("s3cret", canal::User{"alice", false});
    canal::URLRouter http{{
        canal::path("announce/", canal::as_app<AnnounceView>()),
    }};
    canal::URLRouter websocket{{
        canal::path("ws/echo/", canal::as_app<EchoConsumer>()),
        canal::path("ws/raw/", canal::as_app<RawEchoConsumer>()),
        canal::path("ws/hello/",
                    TokenAuthMiddleware(canal::as_app<GreeterConsumer>(), std::move(tokens))),
        canal::path("ws/clock/", canal::as_app<ClockConsumer>(std::chrono::seconds(1))),
        canal::path("ws/news/", canal::as_app<NewsConsumer>()),
    }};
    std::map<std::string, canal::Application, std::less<>> apps;
    apps.emplace("http", std::move(http));
    apps.emplace("websocket", std::move(websocket));
    return canal::run(canal::ProtocolTypeRouter{std::move(apps)}, std::move(settings));
}
