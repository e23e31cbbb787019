// canal-bench: the command line (Options, parse_options).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace canal_bench {

/** What the command line asked for, with each mode's defaults applied. */
struct Options {
    std::string mode;
    std::string host = "127.0.0.1";
    std::vector<unsigned> ports;
    std::size_t members = 10;
    std::optional<std::size_t> connections;
    std::size_t size = 64;
    std::string path = "/ws/echo/";
    unsigned servers = 1;
    std::size_t senders = 1;
    double duration = 5;
    double warmup = 1;
    double rate = 0;
    std::size_t window = 4;
    bool window_given = false;
    std::string room = "bench";
    std::size_t pad = 0;
    std::size_t frames = 10'000;
    double quiet = 2;
    double settle = 12;
    bool members_given = false;
    bool duration_given = false;
    std::string spawn;
    unsigned server_threads = 1;
    std::vector<std::string> server_args;
    std::vector<int> server_cpus;
    std::vector<int> client_cpus;
    std::vector<int> server_pids;
    /**
     * Room mode on the multichat (`/chat/stream/`) instead of the tutorial chat: USER and
     * PASSWORD pairs to log in with (the first for the senders, the second, if given, for the
     * other members).
     */
    std::vector<std::pair<std::string, std::string>> logins;
};

/** Prints `message` and the way to the help, and exits with status 2. */
[[noreturn]] void usage_error(std::string const& message);

/** Parses and checks the command line; --help prints the usage and exits 0. */
Options parse_options(int argc, char** argv);

} // namespace canal_bench
