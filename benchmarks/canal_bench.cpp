// canal-bench: a load generator for canal servers: one thread, its own io_context, Beast
// websocket clients in Asio C++20 coroutines. Modes: `room` (the fan-out of the Channels
// tutorial chat, apps/chat), `echo` (round trips), `connect` (handshakes/s), `idle`
// (server memory per idle connection) and `burst` (one write of N chat frames: does every
// member get all of them, in order, or a close code?). What it measures and how to read it:
// benchmarks/README.md. The parts: bench/options (the command line), bench/server_process
// (the spawned servers), bench/bench (the clients), bench/report (the table and JSON line).
#include "bench/bench.hpp"
#include "bench/options.hpp"
#include "bench/process.hpp"
#include "bench/report.hpp"
#include "bench/server_process.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace canal_bench {

namespace {

/** Enough file descriptors for `members` sockets: soft limit up to the hard one. */
void raise_fd_limit(std::size_t members) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    rlim_t need = members + 64;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        usage_error(std::to_string(members) + " members need about " + std::to_string(need) +
                    " file descriptors but the hard limit is " + std::to_string(rl.rlim_max) +
                    ": raise it (ulimit -Hn, limits.conf) or use fewer members");
    }
}

int run_bench(Options const& o) {
    raise_fd_limit(o.members);
    // Spawn before pinning ourselves: the children would inherit our affinity.
    std::vector<std::unique_ptr<ServerProcess>> servers;
    if (!o.spawn.empty()) {
        for (unsigned i = 0; i < o.servers; ++i) {
            servers.push_back(std::make_unique<ServerProcess>(o));
        }
    }
    if (!o.client_cpus.empty() && !pin_to(0, o.client_cpus)) {
        throw std::runtime_error(std::string("cannot pin canal-bench to --client-cpu: ") +
                                 std::strerror(errno));
    }
    std::vector<unsigned> ports = o.ports;
    for (auto const& server : servers) {
        ports.push_back(server->port());
    }
    boost::system::error_code ec;
    auto address = net::ip::make_address(o.host, ec);
    if (ec) {
        // A name: resolve it once, synchronously, before the clock starts.
        net::io_context resolver_ctx;
        tcp::resolver resolver(resolver_ctx);
        auto results = resolver.resolve(o.host, std::to_string(ports.front()), ec);
        if (ec || results.empty()) {
            throw std::runtime_error("cannot resolve --host '" + o.host + "': " + ec.message());
        }
        address = results.begin()->endpoint().address();
    }
    std::vector<tcp::endpoint> endpoints;
    for (auto port : ports) {
        endpoints.emplace_back(address, static_cast<unsigned short>(port));
    }
    std::vector<ServerProcess*> spawned;
    std::vector<int> watched_pids;
    for (auto const& server : servers) {
        spawned.push_back(server.get());
        watched_pids.push_back(server->pid());
    }
    // Other server-side processes (a Redis server, a server not spawned) count too.
    watched_pids.insert(watched_pids.end(), o.server_pids.begin(), o.server_pids.end());

    auto run = run_load(o, endpoints, spawned, watched_pids);
    bool const completed = run.completed;
    std::string error = std::move(run.error);
    Results results = std::move(run.results);
    if (o.mode == "idle" && completed && !watched_pids.empty()) {
        // What the server gives back once the connections are gone (the lowest RSS seen).
        auto const end = std::chrono::steady_clock::now() +
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::duration<double>(o.settle));
        while (std::chrono::steady_clock::now() < end) {
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                std::chrono::seconds(1), end - std::chrono::steady_clock::now()));
            auto rss = sum_over(watched_pids, process_rss_kib);
            if (rss && (!results.server_rss_closed_kib || *rss < *results.server_rss_closed_kib)) {
                results.server_rss_closed_kib = rss;
            }
        }
    }
    std::string server_exit;
    for (auto const& server : servers) {
        bool died = server->exited();
        auto status = server->stop();
        if (died && error.empty()) {
            error = "the server exited during the run (" + status + ")";
        }
        if (server_exit.empty() || status != "exit status 0") {
            server_exit = status; // the worst one
        }
    }
    if (!error.empty() || !completed) {
        std::cerr << "canal-bench: " << (error.empty() ? "the run did not complete" : error)
                  << "\n";
        return 1;
    }
    report(o, endpoints, results, server_exit);
    if (!servers.empty() && server_exit != "exit status 0") {
        std::cerr << "canal-bench: warning: the server did not exit cleanly on SIGTERM: "
                  << server_exit << "\n";
    }
    if (o.mode == "burst") {
        bool writer_bad = results.burst_writer_outcome == "silent loss" ||
                          results.burst_writer_outcome == "out of order";
        if (results.burst_silent_loss + results.burst_disorder != 0 || writer_bad) {
            std::cerr << "canal-bench: burst: " << results.burst_silent_loss
                      << " members lost frames silently and " << results.burst_disorder
                      << " got them out of order; the writer (a member of the room too): "
                      << results.burst_writer_outcome << "\n";
            return 1;
        }
        return 0;
    }
    // Open loop: the server may close members (its answer to overload): reported, not a
    // failure. Connections that ended for another reason, and any in closed loop, are.
    std::uint64_t tolerated = o.rate > 0 ? results.closed_by_server : 0;
    if (results.disconnects > tolerated) {
        std::cerr << "canal-bench: " << results.disconnects
                  << " members were disconnected during the run: the numbers are incomplete\n";
        return 1;
    }
    return 0;
}

} // namespace

} // namespace canal_bench

int main(int argc, char** argv) {
    auto const options = canal_bench::parse_options(argc, argv);
    try {
        return canal_bench::run_bench(options);
    } catch (std::exception const& e) {
        std::cerr << "canal-bench: " << e.what() << "\n";
        return 1;
    }
}
