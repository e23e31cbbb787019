// A consumer built against the installed canal package: an echo consumer behind a URLRouter,
// driven by WebsocketCommunicator, from the umbrella header. Exits 0 when the echo comes back.
#include <canal/canal.hpp> // every public header (and <canal/version.hpp>)

#include <exception>
#include <iostream>
#include <string>

namespace {

class EchoConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> receive(std::string text) override {
        co_await send("echo: " + text);
    }
};

} // namespace

int main() {
    try {
        canal::URLRouter router{{
            canal::path("ws/echo/<str:name>/", canal::as_app<EchoConsumer>()),
        }};
        canal::WebsocketCommunicator client{router, "/ws/echo/test/"};
        if (!client.connect().accepted) {
            std::cerr << "echo_consumer: the connection was not accepted\n";
            return 1;
        }
        client.send_to("hello");
        auto reply = client.receive_from();
        client.disconnect();
        if (reply != "echo: hello") {
            std::cerr << "echo_consumer: unexpected reply '" << reply << "'\n";
            return 1;
        }
        std::cout << "echo_consumer: ok (canal " << CANAL_VERSION_STRING << ")\n";
        return 0;
    } catch (std::exception const& e) {
        std::cerr << "echo_consumer: " << e.what() << "\n";
        return 1;
    }
}
