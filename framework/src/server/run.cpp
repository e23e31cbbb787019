// canal::run: build the layer the flags name, start a Server, wait for SIGINT, SIGTERM or
// SIGHUP, stop gracefully.
#include <canal/server/server.hpp>


#include "detail/blocked_signals.hpp"
#include "detail/log.hpp"
#include "server/build_layers.hpp"
#include "server/metrics_endpoint.hpp"

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
    // Blocked before any thread starts, so this thread alone takes them. SIGHUP (a closed
    // terminal or a reload) is the same graceful stop (1001).
    detail::BlockedSignals const signals;
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
    int const received = signals.wait();
    char const* name = received == SIGINT ? "SIGINT" : received == SIGHUP ? "SIGHUP" : "SIGTERM";
    detail::log_info(std::string("received ") + name + ", closing connections");
    server->stop();
    server->wait();
    return 0;
}

} // namespace canal
