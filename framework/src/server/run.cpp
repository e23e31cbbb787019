// canal::run: start a Server, wait for SIGINT/SIGTERM, stop gracefully.
#include <canal/server/server.hpp>

#include "detail/log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>

#include <csignal>
#include <iostream>

namespace canal {

int run(Application app, Settings settings) {
    try {
        settings.validate();
    } catch (InvalidSetting const& e) {
        std::cerr << "canal: " << e.what() << "\n";
        return 2;
    }
    // The signal set exists before the I/O threads start, so they never take the signal.
    net::io_context signals_ctx(1);
    net::signal_set signals(signals_ctx, SIGINT, SIGTERM);
    Server server(std::move(app), std::move(settings));
    try {
        server.start();
    } catch (std::exception const& e) {
        std::cerr << "canal: " << e.what() << "\n";
        return 1;
    }
    std::cout << "canal: listening on http://" << server.settings().host << ":" << server.port()
              << "/" << std::endl;
    int received = 0;
    signals.async_wait([&](boost::system::error_code ec, int sig) {
        if (!ec) {
            received = sig;
        }
    });
    signals_ctx.run();
    detail::log_info(std::string("received ") + (received == SIGINT ? "SIGINT" : "SIGTERM") +
                     ", closing connections");
    server.stop();
    server.wait();
    return 0;
}

} // namespace canal
