// echo: a websocket echo server on /ws/echo/.
#include "guide/echo_consumer.hpp"

#include <canal/routing/url_router.hpp>
#include <canal/server/server.hpp>

int main(int argc, char** argv) {
    canal::URLRouter app{{
        canal::path("ws/echo/", canal::as_app<EchoConsumer>()),
    }};
    return canal::run(std::move(app), canal::Settings::from_args(argc, argv));
}
