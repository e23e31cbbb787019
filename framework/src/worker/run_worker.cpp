// canal::run_worker: Channels' runworker. Build the layer, run a Worker on I/O threads until
// SIGINT or SIGTERM, stop it.
#include <canal/worker/worker.hpp>

#include <canal/sync/handler_pool.hpp>

#include "detail/blocked_signals.hpp"
#include "detail/log.hpp"
#include "server/build_layers.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

namespace canal {

int run_worker(Application app, std::vector<std::string> channels, Settings settings) {
    try {
        settings.validate();
    } catch (InvalidSetting const& e) {
        std::cerr << "canal: " << e.what() << "\n";
        return 2;
    }
    // Blocked before any thread starts, so this thread alone takes them; as canal::run, a
    // closed terminal or a reload (SIGHUP) stops gracefully.
    detail::BlockedSignals const signals;
    try {
        detail::build_channel_layers(settings);
    } catch (std::exception const& e) {
        std::cerr << "canal: " << e.what() << "\n";
        return 1;
    }
    std::shared_ptr<ChannelLayer> layer = settings.channel_layer;
    std::string names;
    for (auto const& channel : channels) {
        names += (names.empty() ? "" : ", ") + channel;
    }
    auto ioc = std::make_unique<net::io_context>();
    std::optional<Worker> worker;
    try {
        worker.emplace(std::move(app), std::move(channels), layer, settings.channel_layers);
    } catch (std::invalid_argument const& e) {
        std::cerr << "canal: " << e.what() << "\n";
        return 2;
    }
    detail::set_pool_threads(*ioc, settings.handler_threads);
    auto work = net::make_work_guard(*ioc);
    worker->start(ioc->get_executor());
    unsigned const count =
        settings.threads != 0 ? settings.threads : std::max(1U, std::thread::hardware_concurrency());
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < count; ++i) {
        threads.emplace_back([&ioc] {
            detail::IoThreadScope io_thread; // async_to_sync() here is an error, not a hang
            ioc->run();
        });
    }
    std::cout << "canal: worker listening on channels " << names << std::endl;

    int const received = signals.wait();
    detail::log_info(std::string("received ") + (received == SIGINT ? "SIGINT" : received == SIGHUP ? "SIGHUP" : "SIGTERM") +
                     ", stopping the worker");
    worker->stop();
    work.reset();
    auto const deadline = std::chrono::steady_clock::now() + settings.shutdown_timeout;
    while (worker->running() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (worker->running() > 0) {
        detail::log_warning("worker: " + std::to_string(worker->running()) +
                            " channel(s) still busy after the shutdown timeout; stopping anyway");
    }
    ioc->stop();
    for (auto& thread : threads) {
        thread.join();
    }
    if (!detail::wait_for_pool_posts(*ioc, settings.shutdown_timeout)) {
        detail::log_warning("worker stopped while sync work is still running");
    }
    worker.reset();
    // The layer's own thread may still be inside its last post to this io_context.
    if (!layer->settle(settings.shutdown_timeout)) {
        detail::log_warning("worker stopped while the channel layer is still busy");
    }
    ioc.reset();
    return 0;
}

} // namespace canal
