// canal::run: build the layer the flags name, start a Server, wait for SIGINT, SIGTERM or
// SIGHUP, stop gracefully.
#include <canal/server/server.hpp>


#include "detail/log.hpp"
#include "server/build_layers.hpp"
#include "server/metrics_endpoint.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/system_error.hpp>

#include <csignal>
#include <iostream>
#include <optional>

namespace canal {

int run(Application app, Settings settings) {
    try {
        settings.validate();
    } catch (InvalidSetting const& e) {
        std::cerr << "canal: " << e.what() << "\n";
        return 2;
    }
    set_log_level(settings.log_level);
    set_log_format(settings.log_format);
    // The signal set exists before the I/O threads start, so they never take the signal.
    net::io_context signals_ctx(1);
    net::signal_set signals(signals_ctx, SIGINT, SIGTERM);
    signals.add(SIGHUP); // a closed terminal or a reload: the same graceful stop (1001)
    std::optional<Server> server;
    try {
        detail::build_channel_layers(settings);
        server.emplace(std::move(app), std::move(settings));
        server->start();
    } catch (InvalidSetting const& e) {
        std::cerr << "canal: " << e.what() << "\n"; // a certificate, a socket path, an fd
        return 2;
    } catch (std::exception const& e) {
        std::cerr << "canal: " << e.what() << "\n";
        return 1;
    }
    std::cout << "canal: listening on " << server->address() << std::endl;
    if (server->metrics_port() != 0) {
        auto const [host, port] = detail::parse_metrics_address(server->settings().metrics);
        auto const shown = host.find(':') == std::string::npos ? host : "[" + host + "]";
        std::cout << "canal: metrics on http://" << shown << ":" << server->metrics_port()
                  << "/metrics" << std::endl;
    }
    int received = 0;
    signals.async_wait([&](boost::system::error_code ec, int sig) {
        if (!ec) {
            received = sig;
        }
    });
    signals_ctx.run();
    char const* name = received == SIGINT ? "SIGINT" : received == SIGHUP ? "SIGHUP" : "SIGTERM";
    detail::log_info(std::string("received ") + name + ", closing connections");
    server->stop();
    server->wait();
    return 0;
}

} // namespace canal
