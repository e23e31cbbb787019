// canal-bench: a load generator for canal servers: one thread, its own io_context, Beast
// websocket clients in Asio C++20 coroutines. Modes: `room` (the fan-out of the Channels
// tutorial chat, apps/chat), `echo` (round trips), `connect` (handshakes/s), `idle`
// (server memory per idle connection) and `burst` (one write of N chat frames: does every
// member get all of them, in order, or a close code?). What it measures and how to read it:
// benchmarks/README.md.
#include <canal/core/net.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <string_view>
#include <vector>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using canal::awaitable;
using canal::use_nothrow;
using Ws = websocket::stream<tcp::socket>;

/**
 * Sends `Origin: http://HOST:PORT` (the server's own address) in the handshake, as a page
 * served by that server would: canal-chat's websocket routes check the origin.
 */
void set_same_site_origin(Ws& ws, std::string const& host_header) {
    ws.set_option(websocket::stream_base::decorator(
        [origin = "http://" + host_header](websocket::request_type& req) {
            req.set(beast::http::field::origin, origin);
        }));
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

Clock::time_point from_ns(std::int64_t ns) {
    return Clock::time_point(
        std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

std::int64_t seconds_to_ns(double s) { return static_cast<std::int64_t>(std::llround(s * 1e9)); }

std::string fixed(double v, int decimals) {
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%.*f", decimals, v);
    return buf.data();
}

// ---------------------------------------------------------------------------------------------
// Command line

constexpr char const* usage_text = R"(usage: canal-bench room|echo|connect|idle|burst [options]

room     Connects MEMBERS websocket clients to ws://HOST:PORT/ws/chat/ROOM/ (the canal-chat
         app), lets SENDERS of them send {"message": "..."} for DURATION seconds and measures
         the fan-out: messages sent, deliveries, losses, per-sender order and delivery latency.
         With --rate R the load is open loop: message i is due at i/R whatever the server
         does; a message whose sender's socket does not take it when due (TCP pushes back)
         is counted as not sent, never queued or skipped silently.
echo     Opens CONNECTIONS clients to ws://HOST:PORT/PATH (default /ws/echo/); each keeps
         WINDOW messages of SIZE bytes in flight to an echo server: round trips/s and latency.
connect  CONNECTIONS clients in parallel connect, handshake and close, again and again:
         handshakes/s and handshake latency.
idle     Opens CONNECTIONS clients and holds them idle for DURATION seconds: the server's
         RSS growth per connection (/proc, needs --spawn or --server-pid).
burst    MEMBERS clients (default 50) join ws://HOST:PORT/ws/chat/ROOM/, then one more client
         of the room writes FRAMES chat frames {"message":"SEQ"} (default 10000) in one
         socket write. Every member must get all of them in order, or be closed by the
         server with a close code; anything else (fewer after a quiet period while the
         connection stays open, or out of order) is a silent loss: exit status 1.

  --host H              server address (default 127.0.0.1)
  --port P              server port (required unless --spawn); repeat it for several
                        servers: connections go to them in turn
  --members C           connected room members (default 10)
  --connections C       echo, connect, idle: clients (defaults 10, 8, 1000)
  --size S              echo: bytes per message text (default 64)
  --path PATH           echo, connect, idle: websocket path (default /ws/echo/)
  --senders K           members that also send (default 1, at most C)
  --duration S          measured seconds (default 5)
  --warmup S            seconds of sending before measuring starts (default 1)
  --rate R              messages per second over all senders; 0 = closed loop (default 0)
  --window W            closed loop: messages each sender keeps in flight (default 4;
                        echo: 16)
  --room NAME           room name: letters, digits, '-', '_', '.' (default bench)
  --pad N               extra bytes in each message text (default 0)
  --frames N            burst: chat frames in the one write (default 10000)
  --quiet S             burst: a member still short of FRAMES when nothing arrived for S
                        seconds has lost frames (default 2); DURATION bounds the wait
                        (burst default 30)
  --settle S            idle: after closing the connections, watch the server's RSS for S
                        seconds and report the lowest (memory given back; default 12)
  --spawn PATH          start PATH (canal-chat, or a server that takes the same --host,
                        --port 0 and --threads and prints "...listening on http://H:P/")
                        on a free port, stop it at the end
  --servers N           --spawn N servers (default 1; with a shared channel layer, e.g.
                        --server-arg --layer=redis://...), connections go to them in turn
  --server-threads N    --threads given to the spawned server (default 1)
  --server-arg ARG      one more argument for the spawned server, e.g. --server-arg
                        --consumer=sync (repeatable)
  --server-cpu LIST     pin the spawned server to these CPUs (e.g. 0 or 0,2 or 0-1)
  --client-cpu LIST     pin canal-bench to these CPUs
  --server-pid PID      also report the CPU use (idle: the RSS) of this server process,
                        not spawned (repeatable: the sum over them)
  -h, --help            this help

Prints a table, then one JSON line starting with {"mode":"MODE". Exit status: 0 done,
1 the run failed (connect failure, server death, disconnects in closed loop; burst: a
silent loss or disorder), 2 bad command line. With --rate and in burst, members closed by
the server are reported with their close codes, not a failure.
)";

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
};

[[noreturn]] void usage_error(std::string const& message) {
    std::cerr << "canal-bench: " << message << "\n(run 'canal-bench --help' for the options)\n";
    std::exit(2);
}

template <typename T>
T parse_number(std::string_view flag, std::string_view text) {
    T value{};
    auto const* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || text.empty()) {
        usage_error(std::string(flag) + " expects a number, got '" + std::string(text) + "'");
    }
    return value;
}

/** "0", "0,2", "0-3": CPU numbers for sched_setaffinity. */
std::vector<int> parse_cpus(std::string_view flag, std::string_view text) {
    std::vector<int> cpus;
    while (!text.empty()) {
        auto comma = text.find(',');
        auto item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        auto dash = item.find('-');
        int first = parse_number<int>(flag, item.substr(0, dash));
        int last =
            dash == std::string_view::npos ? first : parse_number<int>(flag, item.substr(dash + 1));
        if (first < 0 || last < first || last >= CPU_SETSIZE) {
            usage_error(std::string(flag) + ": '" + std::string(item) + "' is not a CPU range");
        }
        for (int c = first; c <= last; ++c) {
            cpus.push_back(c);
        }
    }
    if (cpus.empty()) {
        usage_error(std::string(flag) + " expects CPU numbers, e.g. 0 or 0,2 or 0-1");
    }
    return cpus;
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::cout << usage_text;
            std::exit(0);
        }
        if (!arg.starts_with("--")) {
            if (!o.mode.empty()) {
                usage_error("unexpected argument '" + std::string(arg) + "'");
            }
            o.mode = arg;
            continue;
        }
        std::string_view flag = arg;
        std::string_view value;
        if (auto eq = arg.find('='); eq != std::string_view::npos) {
            flag = arg.substr(0, eq);
            value = arg.substr(eq + 1);
        } else {
            if (i + 1 >= argc) {
                usage_error(std::string(flag) + " needs a value");
            }
            value = argv[++i];
        }
        if (flag == "--host") {
            o.host = value;
        } else if (flag == "--port") {
            o.ports.push_back(parse_number<unsigned>(flag, value));
        } else if (flag == "--members") {
            o.members = parse_number<std::size_t>(flag, value);
            o.members_given = true;
        } else if (flag == "--connections") {
            o.connections = parse_number<std::size_t>(flag, value);
        } else if (flag == "--size") {
            o.size = parse_number<std::size_t>(flag, value);
        } else if (flag == "--path") {
            o.path = value;
        } else if (flag == "--servers") {
            o.servers = parse_number<unsigned>(flag, value);
        } else if (flag == "--senders") {
            o.senders = parse_number<std::size_t>(flag, value);
        } else if (flag == "--duration") {
            o.duration = parse_number<double>(flag, value);
            o.duration_given = true;
        } else if (flag == "--warmup") {
            o.warmup = parse_number<double>(flag, value);
        } else if (flag == "--rate") {
            o.rate = parse_number<double>(flag, value);
        } else if (flag == "--window") {
            o.window = parse_number<std::size_t>(flag, value);
            o.window_given = true;
        } else if (flag == "--room") {
            o.room = value;
        } else if (flag == "--pad") {
            o.pad = parse_number<std::size_t>(flag, value);
        } else if (flag == "--frames") {
            o.frames = parse_number<std::size_t>(flag, value);
        } else if (flag == "--quiet") {
            o.quiet = parse_number<double>(flag, value);
        } else if (flag == "--settle") {
            o.settle = parse_number<double>(flag, value);
        } else if (flag == "--spawn") {
            o.spawn = value;
        } else if (flag == "--server-threads") {
            o.server_threads = parse_number<unsigned>(flag, value);
        } else if (flag == "--server-arg") {
            o.server_args.emplace_back(value);
        } else if (flag == "--server-cpu") {
            o.server_cpus = parse_cpus(flag, value);
        } else if (flag == "--client-cpu") {
            o.client_cpus = parse_cpus(flag, value);
        } else if (flag == "--server-pid") {
            o.server_pids.push_back(parse_number<int>(flag, value));
        } else {
            usage_error("unknown option '" + std::string(flag) + "'");
        }
    }
    if (o.mode.empty()) {
        usage_error("no mode given: room, echo, connect, idle or burst");
    }
    if (o.mode != "room" && o.mode != "echo" && o.mode != "connect" && o.mode != "idle" &&
        o.mode != "burst") {
        usage_error("unknown mode '" + o.mode + "': room, echo, connect, idle or burst");
    }
    if (o.spawn.empty() && o.ports.empty()) {
        usage_error("--port is required (or --spawn PATH_TO_CANAL_CHAT to start a server)");
    }
    if (!o.spawn.empty() && !o.ports.empty()) {
        usage_error("--spawn picks a free port itself: drop --port");
    }
    for (auto port : o.ports) {
        if (port == 0 || port > 65535) {
            usage_error("--port must be 1..65535");
        }
    }
    if (o.spawn.empty() && (!o.server_cpus.empty() || o.server_threads != 1 ||
                            !o.server_args.empty() || o.servers != 1)) {
        usage_error(
            "--server-cpu, --server-threads, --servers and --server-arg only apply with --spawn");
    }
    if (o.servers == 0 || o.servers > 16) {
        usage_error("--servers must be 1..16");
    }
    if (o.connections && (o.mode == "room" || o.mode == "burst")) {
        usage_error(o.mode + " counts --members, not --connections");
    }
    if (!(o.settle >= 0 && o.settle <= 600)) {
        usage_error("--settle must be in [0, 600] seconds");
    }
    if (o.mode == "burst") {
        // The members only receive; the extra writer client is not one of them.
        if (!o.members_given) {
            o.members = 50;
        }
        if (!o.duration_given) {
            o.duration = 30;
        }
        o.senders = 1;
        if (o.rate > 0) {
            usage_error("--rate does not apply to burst (one write of --frames frames)");
        }
        if (o.frames == 0 || o.frames > 10'000'000) {
            usage_error("--frames must be 1..10000000");
        }
        if (!(o.quiet > 0 && o.quiet <= 600)) {
            usage_error("--quiet must be in (0, 600] seconds");
        }
    } else if (o.mode != "room") {
        // The other modes reuse the member machinery: every connection is a member, and in
        // echo every one sends.
        std::size_t defaults = o.mode == "echo" ? 10 : o.mode == "connect" ? 8 : 1000;
        o.members = o.connections.value_or(defaults);
        o.senders = o.mode == "echo" ? o.members : 1;
        if (o.mode == "echo" && !o.window_given) {
            o.window = 16;
        }
        if (o.mode != "room" && o.rate > 0 && o.mode != "echo") {
            usage_error("--rate applies to room and echo only");
        }
    }
    if (o.size > 1'000'000) {
        usage_error("--size must be at most 1000000 bytes");
    }
    if (o.path.empty() || o.path.front() != '/') {
        usage_error("--path must start with '/'");
    }
    if (o.members == 0 || o.members > 1'000'000) {
        usage_error("--members / --connections must be 1..1000000");
    }
    if (o.senders == 0 || o.senders > o.members) {
        usage_error("--senders must be 1..members (" + std::to_string(o.members) + ")");
    }
    if (!(o.duration > 0 && o.duration <= 3600)) {
        usage_error("--duration must be in (0, 3600] seconds");
    }
    if (!(o.warmup >= 0 && o.warmup <= 600)) {
        usage_error("--warmup must be in [0, 600] seconds");
    }
    if (!(o.rate >= 0 && o.rate <= 1e8)) {
        usage_error("--rate must be 0 (closed loop) or a positive number of messages per second");
    }
    if (o.window == 0 || o.window > 1'000'000) {
        usage_error("--window must be 1..1000000");
    }
    if (o.pad > 1'000'000) {
        usage_error("--pad must be at most 1000000 bytes");
    }
    bool room_ok = !o.room.empty() && o.room.size() < 90 &&
                   std::all_of(o.room.begin(), o.room.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                   });
    if (!room_ok) {
        usage_error(
            "room name '" + o.room +
            "' is invalid: only ASCII letters, digits, '-', '_' and '.', under 90 characters");
    }
    return o;
}

// ---------------------------------------------------------------------------------------------
// Latency histogram: log-linear buckets (32 per power of two, ~3 % wide), exact below 32 ns.

class Histogram {
public:
    void record(std::uint64_t v) {
        ++counts_[index(v)];
        ++count_;
        sum_ += static_cast<double>(v);
        max_ = std::max(max_, v);
    }

    [[nodiscard]] std::uint64_t count() const { return count_; }
    [[nodiscard]] std::uint64_t max() const { return max_; }
    [[nodiscard]] double mean() const {
        return count_ == 0 ? 0 : sum_ / static_cast<double>(count_);
    }

    /** The value below which a fraction q of the samples lie (a bucket's midpoint). */
    [[nodiscard]] double percentile(double q) const {
        if (count_ == 0) {
            return 0;
        }
        auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
        rank = std::clamp<std::uint64_t>(rank, 1, count_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                auto [low, high] = bounds(i);
                return std::min(static_cast<double>(max_),
                                (static_cast<double>(low) + static_cast<double>(high)) / 2);
            }
        }
        return static_cast<double>(max_);
    }

private:
    static constexpr unsigned sub_bits = 5;
    static constexpr std::uint64_t sub = std::uint64_t{1} << sub_bits;

    static std::size_t index(std::uint64_t v) {
        if (v < sub) {
            return static_cast<std::size_t>(v);
        }
        unsigned shift = static_cast<unsigned>(std::bit_width(v)) - 1 - sub_bits;
        return static_cast<std::size_t>((shift + 1) * sub + ((v >> shift) - sub));
    }

    static std::pair<std::uint64_t, std::uint64_t> bounds(std::size_t i) {
        std::uint64_t group = i / sub;
        std::uint64_t j = i % sub;
        if (group == 0) {
            return {j, j};
        }
        unsigned shift = static_cast<unsigned>(group - 1);
        return {(sub + j) << shift, ((sub + j + 1) << shift) - 1};
    }

    std::array<std::uint64_t, (64 - sub_bits + 1) * sub> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
    double sum_ = 0;
};

// ---------------------------------------------------------------------------------------------
// CPU accounting

double own_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto tv = [](timeval t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

/** user+sys seconds of process `pid` (all threads) from /proc, or nullopt. */
std::optional<double> process_cpu_seconds(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) {
        return std::nullopt;
    }
    // The command name (field 2) may contain spaces: count fields after its closing ')'.
    auto paren = line.rfind(')');
    if (paren == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream fields(line.substr(paren + 1));
    std::string field;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    for (int n = 3; n <= 15 && fields >> field; ++n) {
        if (n == 14) {
            utime = std::strtoull(field.c_str(), nullptr, 10);
        } else if (n == 15) {
            stime = std::strtoull(field.c_str(), nullptr, 10);
        }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/** Resident set size of process `pid` in KiB (VmRSS in /proc/PID/status; 0 = self), or nullopt. */
std::optional<double> process_rss_kib(int pid) {
    std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                              : "/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("VmRSS:")) {
            return std::strtod(line.c_str() + 6, nullptr);
        }
    }
    return std::nullopt;
}

/** Sum of `f(pid)` over `pids`; nullopt when there are none or one is unreadable. */
template <typename F>
std::optional<double> sum_over(std::vector<int> const& pids, F f) {
    if (pids.empty()) {
        return std::nullopt;
    }
    double total = 0;
    for (int pid : pids) {
        auto v = f(pid);
        if (!v) {
            return std::nullopt;
        }
        total += *v;
    }
    return total;
}

bool pin_to(pid_t pid, std::vector<int> const& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus) {
        CPU_SET(c, &set);
    }
    return sched_setaffinity(pid, sizeof(set), &set) == 0;
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) {
        return "exit status " + std::to_string(WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    }
    return "wait status " + std::to_string(status);
}

// ---------------------------------------------------------------------------------------------
// The spawned server: fork/exec, read the port from its stdout, SIGTERM + wait when destroyed.

class ServerProcess {
public:
    explicit ServerProcess(Options const& o) {
        if (access(o.spawn.c_str(), X_OK) != 0) {
            throw std::runtime_error("cannot execute '" + o.spawn + "': " + std::strerror(errno) +
                                     " (--spawn wants the canal-chat executable, e.g. "
                                     "build/bench/apps/chat/canal-chat, or a peer server "
                                     "such as benchmarks/peers/uws_server.js)");
        }
        std::vector<std::string> args = {o.spawn,
                                         "--host",
                                         o.host,
                                         "--port",
                                         "0",
                                         "--threads",
                                         std::to_string(o.server_threads)};
        args.insert(args.end(), o.server_args.begin(), o.server_args.end());
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c : o.server_cpus) {
            CPU_SET(c, &set);
        }
        bool pin = !o.server_cpus.empty();

        std::array<int, 2> fds{};
        if (pipe2(fds.data(), O_CLOEXEC) != 0) {
            throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
        }
        pid_t parent = getpid();
        pid_ = fork();
        if (pid_ < 0) {
            int e = errno;
            close(fds[0]);
            close(fds[1]);
            throw std::runtime_error(std::string("fork: ") + std::strerror(e));
        }
        if (pid_ == 0) {
            // Only async-signal-safe calls until exec. The server dies with us, even if we crash.
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent) {
                _exit(1);
            }
            if (pin && sched_setaffinity(0, sizeof(set), &set) != 0) {
                static constexpr char msg[] = "canal-bench: cannot pin the server (--server-cpu)\n";
                (void)!write(2, msg, sizeof(msg) - 1);
                _exit(126);
            }
            dup2(fds[1], 1);
            execv(argv[0], argv.data());
            static constexpr char msg[] = "canal-bench: exec of the server failed\n";
            (void)!write(2, msg, sizeof(msg) - 1);
            _exit(127);
        }
        close(fds[1]);
        out_fd_ = fds[0];
        try {
            wait_for_port(std::chrono::seconds(10));
        } catch (...) {
            stop();
            throw;
        }
    }

    ServerProcess(ServerProcess const&) = delete;
    ServerProcess& operator=(ServerProcess const&) = delete;
    ~ServerProcess() { stop(); }

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] unsigned short port() const { return port_; }

    /** Hands the read end of the server's stdout to the caller (who forwards it). */
    int take_output_fd() { return std::exchange(out_fd_, -1); }

    /** True once the server has exited (then reaped; see status()). */
    bool exited() {
        if (!reaped_ && pid_ > 0 && waitpid(pid_, &status_, WNOHANG) == pid_) {
            reaped_ = true;
        }
        return reaped_;
    }

    [[nodiscard]] std::string status() const {
        return reaped_ ? describe_wait_status(status_) : std::string("running");
    }

    /** SIGTERM, wait up to 5 s (canal shuts down gracefully in 3 s), then SIGKILL. */
    std::string stop() {
        if (pid_ > 0 && !exited()) {
            kill(pid_, SIGTERM);
            auto deadline = Clock::now() + std::chrono::seconds(5);
            while (!exited() && Clock::now() < deadline) {
                usleep(10'000);
            }
            if (!exited()) {
                kill(pid_, SIGKILL);
                if (waitpid(pid_, &status_, 0) == pid_) {
                    reaped_ = true;
                }
                killed_ = true;
            }
        }
        if (out_fd_ >= 0) {
            close(out_fd_);
            out_fd_ = -1;
        }
        return killed_ ? "did not stop within 5 s of SIGTERM: " + status() : status();
    }

private:
    void wait_for_port(std::chrono::seconds limit) {
        // canal-chat prints "canal: listening on http://HOST:PORT/"; the peer servers in
        // benchmarks/peers print the same after their own name.
        static constexpr std::string_view prefix = "listening on http://";
        auto deadline = Clock::now() + limit;
        std::string pending;
        for (;;) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) {
                throw std::runtime_error("the server did not print '" + std::string(prefix) +
                                         "HOST:PORT/' within " + std::to_string(limit.count()) +
                                         " s");
            }
            pollfd pfd{};
            pfd.fd = out_fd_;
            pfd.events = POLLIN;
            int ready = poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
            if (ready <= 0) {
                continue;
            }
            std::array<char, 4096> buf{};
            ssize_t n = read(out_fd_, buf.data(), buf.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                // stdout closed: the server is gone (or about to be).
                if (waitpid(pid_, &status_, 0) == pid_) {
                    reaped_ = true;
                }
                throw std::runtime_error("the server exited before it was listening (" + status() +
                                         ")");
            }
            pending.append(buf.data(), static_cast<std::size_t>(n));
            std::size_t eol = 0;
            while ((eol = pending.find('\n')) != std::string::npos) {
                std::string line = pending.substr(0, eol);
                pending.erase(0, eol + 1);
                auto at = line.find(prefix);
                if (at == std::string::npos) {
                    std::cerr << "server: " << line << "\n";
                    continue;
                }
                // HOST may be an IPv6 address with colons: the port follows the last one.
                std::string_view rest = std::string_view(line).substr(at + prefix.size());
                auto colon = rest.rfind(':');
                auto slash = rest.find('/', colon == std::string_view::npos ? 0 : colon);
                unsigned port = 0;
                if (colon != std::string_view::npos && slash != std::string_view::npos) {
                    auto digits = rest.substr(colon + 1, slash - colon - 1);
                    std::from_chars(digits.data(), digits.data() + digits.size(), port);
                }
                if (port == 0 || port > 65535) {
                    throw std::runtime_error("cannot read the port in the server's line '" + line +
                                             "'");
                }
                port_ = static_cast<unsigned short>(port);
                if (!pending.empty()) {
                    std::cerr << "server: " << pending;
                }
                return;
            }
        }
    }

    pid_t pid_ = -1;
    int out_fd_ = -1;
    unsigned short port_ = 0;
    int status_ = 0;
    bool reaped_ = false;
    bool killed_ = false;
};

// ---------------------------------------------------------------------------------------------
// The room benchmark

/** Message text: "RUN.SENDER.SEQ.TIMESTAMP_NS" then optional padding. */
struct Stamp {
    std::uint64_t run = 0;
    std::uint64_t sender = 0;
    std::uint64_t seq = 0;
    std::int64_t ts = 0;
};

/** Reads the stamp out of `{"message":"..."}` without a JSON parser (the hot path). */
bool parse_stamp(std::string_view text, Stamp& s) {
    static constexpr std::string_view key = "\"message\"";
    auto k = text.find(key);
    if (k == std::string_view::npos) {
        return false;
    }
    auto q = text.find('"', k + key.size());
    if (q == std::string_view::npos) {
        return false;
    }
    char const* p = text.data() + q + 1;
    char const* end = text.data() + text.size();
    auto field = [&](auto& out, bool dot) {
        auto [next, ec] = std::from_chars(p, end, out);
        if (ec != std::errc() || (dot && (next == end || *next != '.'))) {
            return false;
        }
        p = dot ? next + 1 : next;
        return true;
    };
    return field(s.run, true) && field(s.sender, true) && field(s.seq, true) && field(s.ts, false);
}

/** Reads SEQ out of a burst frame `{"message":"SEQ"}` (spaces allowed after the colon). */
bool parse_burst_seq(std::string_view text, std::uint64_t& seq) {
    static constexpr std::string_view key = "\"message\"";
    auto k = text.find(key);
    if (k == std::string_view::npos) {
        return false;
    }
    auto q = text.find('"', k + key.size());
    if (q == std::string_view::npos) {
        return false;
    }
    char const* end = text.data() + text.size();
    auto [next, ec] = std::from_chars(text.data() + q + 1, end, seq);
    return ec == std::errc() && next != end && *next == '"';
}

/**
 * Appends one client websocket frame (FIN set, `opcode`, masked with `mask` as RFC 6455
 * requires of clients) carrying `payload` to `out`.
 */
void append_client_frame(std::string& out, std::string_view payload, std::uint32_t mask,
                         unsigned opcode = 1) {
    out.push_back(static_cast<char>(0x80U | opcode));
    std::uint64_t n = payload.size();
    if (n < 126) {
        out.push_back(static_cast<char>(0x80U | n));
    } else if (n <= 0xffff) {
        out.push_back(static_cast<char>(0x80U | 126U));
        out.push_back(static_cast<char>((n >> 8) & 0xff));
        out.push_back(static_cast<char>(n & 0xff));
    } else {
        out.push_back(static_cast<char>(0x80U | 127U));
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.push_back(static_cast<char>((n >> shift) & 0xff));
        }
    }
    std::array<char, 4> key{};
    for (std::size_t i = 0; i < key.size(); ++i) {
        key[i] = static_cast<char>((mask >> (24 - 8 * i)) & 0xff);
    }
    out.append(key.data(), key.size());
    std::size_t start = out.size();
    out.append(payload);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        out[start + i] = static_cast<char>(out[start + i] ^ key[i % 4]);
    }
}

struct Member {
    Member(std::size_t i, net::io_context& ioc, std::size_t senders)
        : index(i), wake(ioc), last_seq(senders, 0) {}

    std::size_t index;
    /** Which server (of --port / --servers) this member talks to. */
    std::size_t server = 0;
    std::optional<Ws> ws;
    /** Wakes this member's sender: cancelled when a slot frees or a message is scheduled. */
    net::steady_timer wake;
    /** Highest sequence number seen from each sender (order check). */
    std::vector<std::uint64_t> last_seq;
    bool open = false;

    bool sender = false;
    std::uint64_t seq = 0;
    std::size_t in_flight = 0;
    /** Measured messages this member sent (echo: what should come back to it). */
    std::uint64_t sent = 0;
    /** Measured messages this member received (room: from every sender). */
    std::uint64_t delivered = 0;
    /** The server closed the connection: its close code (1006: no close frame); 0 = did not. */
    int close_code = 0;

    // Open loop (--rate): frames are written with non-blocking writes. When TCP does not
    // take a whole frame, the rest (`tail`, maybe empty) is written asynchronously and the
    // member is `blocked` until TCP has taken it: messages due meanwhile are not sent.
    bool blocked = false;
    bool write_failed = false;
    std::string tail;

    // Burst: the writer client (not a member); frames received; the next SEQ expected;
    // frames skipped (SEQ beyond the next expected); frames that went backwards (SEQ below).
    bool writer = false;
    std::uint64_t burst_received = 0;
    std::uint64_t burst_next = 1;
    std::uint64_t burst_missing = 0;
    std::uint64_t burst_backwards = 0;
};

struct Results {
    double connect_s = 0;
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t expected = 0;
    std::int64_t lost = 0;
    std::uint64_t out_of_order = 0;
    std::uint64_t foreign = 0;
    std::uint64_t disconnects = 0;
    std::uint64_t stalls = 0;
    std::uint64_t backlog_dropped = 0;
    double drain_s = 0;
    double p50_us = 0;
    double p99_us = 0;
    double p999_us = 0;
    double max_us = 0;
    double mean_us = 0;
    double client_cpu_pct = 0;
    std::optional<double> server_cpu_pct;
    // connect
    std::uint64_t handshakes = 0;
    std::uint64_t connect_errors = 0;
    // idle
    std::optional<double> server_rss_before_kib;
    std::optional<double> server_rss_after_kib;
    std::optional<double> server_rss_closed_kib;
    std::optional<double> client_rss_kib;
    // CPU seconds and wall time of the measured window (the percentages come from them).
    double wall_s = 0;
    double client_cpu_s = 0;
    std::optional<double> server_cpu_s;
    // open loop (--rate)
    std::uint64_t offered = 0;
    std::uint64_t not_sent_pushback = 0;
    std::uint64_t not_sent_closed = 0;
    std::uint64_t sent_late = 0;
    double send_lag_max_us = 0;
    // room, echo, burst: members the server closed, by close code (1006: no close frame)
    std::uint64_t closed_by_server = 0;
    std::map<int, std::uint64_t> close_codes;
    /** Deliveries missing at members the server did not close: losses nobody was told of. */
    std::int64_t lost_at_open = 0;
    // burst
    std::uint64_t burst_bytes = 0;
    double burst_write_s = 0;
    double burst_last_frame_s = 0;
    std::uint64_t burst_received = 0;
    std::uint64_t burst_complete = 0;
    std::uint64_t burst_closed = 0;
    std::uint64_t burst_cut_by_writer_close = 0;
    std::uint64_t burst_unfinished = 0;
    std::uint64_t burst_silent_loss = 0;
    std::uint64_t burst_disorder = 0;
    std::uint64_t burst_short_min = 0;
    std::uint64_t burst_short_max = 0;
    std::uint64_t burst_writer_received = 0;
    int burst_writer_close_code = 0;
    std::string burst_writer_outcome;
    std::string burst_examples;
};

class Bench {
public:
    Bench(net::io_context& ioc, Options const& o, std::vector<tcp::endpoint> endpoints,
          std::vector<ServerProcess*> servers, std::vector<int> watched_pids)
        : ioc_(ioc), o_(o), endpoints_(std::move(endpoints)), servers_(std::move(servers)),
          watched_pids_(std::move(watched_pids)), phase_timer_(ioc), watchdog_timer_(ioc),
          monitor_timer_(ioc), signals_(ioc, SIGINT, SIGTERM) {
        for (auto const& ep : endpoints_) {
            host_headers_.push_back(o.host + ":" + std::to_string(ep.port()));
        }
        room_ = o.mode == "room";
        echo_ = o.mode == "echo";
        burst_ = o.mode == "burst";
        open_loop_ = o.rate > 0;
        target_ = room_ || burst_ ? "/ws/chat/" + o.room + "/" : o.path;
        std::random_device rd;
        run_id_ = rd() % 1'000'000'000;
        mask_state_ = rd() | 1U;
        if (o.mode == "connect") {
            return; // no standing members: each worker connects and closes in a loop
        }
        // Burst: the writer is one more client of the room, after the members.
        std::size_t clients = o.members + (burst_ ? 1 : 0);
        members_.reserve(clients);
        for (std::size_t i = 0; i < clients; ++i) {
            // Echo checks the order of a member's own messages only: one slot.
            members_.push_back(std::make_unique<Member>(i, ioc, room_ ? o.senders : 1));
            members_.back()->sender = i < o.senders && (room_ || echo_);
            members_.back()->writer = burst_ && i == o.members;
            members_.back()->server = i % endpoints_.size();
        }
    }

    /** Total time the run may take before the watchdog gives up. */
    [[nodiscard]] std::chrono::seconds time_limit() const {
        double warmup = burst_ ? 0 : o_.warmup;
        return std::chrono::seconds(static_cast<long long>(std::ceil(
            connect_limit().count() + warmup + o_.duration + drain_limit + close_limit + 3)));
    }

    void start() {
        net::co_spawn(ioc_, run(), on_done("run"));
        net::co_spawn(ioc_, watchdog(), on_done("watchdog"));
        if (!servers_.empty()) {
            net::co_spawn(ioc_, watch_server(), on_done("server monitor"));
        }
        for (auto* server : servers_) {
            int fd = server->take_output_fd();
            if (fd >= 0) {
                server_out_.push_back(std::make_unique<net::posix::stream_descriptor>(ioc_, fd));
                net::co_spawn(ioc_, forward_server_output(*server_out_.back()),
                              on_done("server output"));
            }
        }
        signals_.async_wait([this](boost::system::error_code ec, int sig) {
            if (!ec) {
                fail(std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
            }
        });
    }

    [[nodiscard]] std::string const& error() const { return error_; }
    [[nodiscard]] bool completed() const { return completed_; }
    [[nodiscard]] Results const& results() const { return results_; }
    [[nodiscard]] std::uint64_t run_id() const { return run_id_; }

private:
    static constexpr double drain_limit = 2;
    static constexpr double close_limit = 2;
    static constexpr std::size_t connect_concurrency = 64;
    static constexpr auto stall_timeout = std::chrono::seconds(2);
    /** Open loop: a message written later than this after its scheduled time is "late". */
    static constexpr std::int64_t late_ns = 1'000'000;

    [[nodiscard]] std::chrono::seconds connect_limit() const {
        return std::chrono::seconds(10 + static_cast<long long>(o_.members / 100));
    }

    /** co_spawn completion handler: an exception ends the run with `what` as context. */
    struct OnDone {
        Bench* bench;
        std::string what;
        void operator()(std::exception_ptr const& e) const {
            if (!e) {
                return;
            }
            try {
                std::rethrow_exception(e);
            } catch (std::exception const& x) {
                bench->fail(what + ": " + x.what());
            }
        }
    };

    OnDone on_done(std::string what) { return OnDone{this, std::move(what)}; }

    /** Records the first error and stops the io_context: main() reports it and exits 1. */
    void fail(std::string message) {
        if (error_.empty() && !completed_) {
            error_ = std::move(message);
        }
        stopping_ = true;
        ioc_.stop();
    }

    awaitable<void> sleep_until(Clock::time_point when) {
        net::steady_timer t(ioc_, when);
        co_await t.async_wait(use_nothrow);
    }

    std::string server_address(std::size_t server) const {
        auto const& ep = endpoints_[server];
        return ep.address().to_string() + ":" + std::to_string(ep.port());
    }

    [[nodiscard]] std::optional<double> server_cpu_seconds() const {
        return sum_over(watched_pids_, process_cpu_seconds);
    }

    /** Messages each sent message should produce: one per member in a room, one echo. */
    [[nodiscard]] std::uint64_t copies() const { return room_ ? members_.size() : 1; }

    awaitable<void> run() {
        if (o_.mode == "connect") {
            co_await run_connect();
            co_return;
        }
        auto rss0 = sum_over(watched_pids_, process_rss_kib);
        auto t0 = Clock::now();
        // Connect everyone, a bounded number at a time, before anybody sends.
        phase_timer_.expires_after(connect_limit());
        auto workers = std::min(connect_concurrency, members_.size());
        for (std::size_t i = 0; i < workers; ++i) {
            net::co_spawn(ioc_, connect_worker(), on_done("connect"));
        }
        while (connected_ < members_.size() && !stopping_) {
            auto [ec] = co_await phase_timer_.async_wait(use_nothrow);
            if (!ec && connected_ < members_.size()) {
                fail("only " + std::to_string(connected_) + " of " +
                     std::to_string(members_.size()) + " members connected within " +
                     std::to_string(connect_limit().count()) + " s");
                co_return;
            }
        }
        if (stopping_) {
            co_return;
        }
        results_.connect_s = std::chrono::duration<double>(Clock::now() - t0).count();

        if (burst_) {
            co_await run_burst();
            co_return;
        }
        if (o_.mode == "idle") {
            // Hold them; the server's RSS growth over its idle baseline is their cost.
            results_.server_rss_before_kib = rss0;
            measure_start_ns_ = now_ns();
            measure_end_ns_ = measure_start_ns_ + seconds_to_ns(o_.duration);
            double client_cpu0 = own_cpu_seconds();
            auto server_cpu0 = server_cpu_seconds();
            co_await sleep_until(from_ns(measure_end_ns_));
            record_cpu(client_cpu0, server_cpu0, measure_start_ns_);
            results_.server_rss_after_kib = sum_over(watched_pids_, process_rss_kib);
            results_.client_rss_kib = process_rss_kib(0);
            collect();
            co_await close_all();
            co_return;
        }

        send_start_ns_ = now_ns();
        measure_start_ns_ = send_start_ns_ + seconds_to_ns(o_.warmup);
        measure_end_ns_ = measure_start_ns_ + seconds_to_ns(o_.duration);
        sending_ = true;
        if (open_loop_) {
            // The pacer writes every message itself, on schedule (no sender coroutines).
            net::co_spawn(ioc_, pacer(), on_done("pacer"));
        } else {
            for (auto& m : members_) {
                if (m->sender) {
                    ++senders_active_;
                    net::co_spawn(ioc_, sender(*m), on_done("sender"));
                }
            }
        }

        co_await sleep_until(from_ns(measure_start_ns_));
        double client_cpu0 = own_cpu_seconds();
        auto server_cpu0 = server_cpu_seconds();
        auto wall0 = now_ns();
        co_await sleep_until(from_ns(measure_end_ns_));
        record_cpu(client_cpu0, server_cpu0, wall0);

        // Stop sending.
        sending_ = false;
        for (auto& m : members_) {
            if (m->sender) {
                m->wake.cancel();
            }
        }

        // Wait for the deliveries in flight, at most drain_limit seconds.
        auto drain_start = Clock::now();
        auto drain_end = drain_start + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(drain_limit));
        while (!stopping_ && Clock::now() < drain_end &&
               (senders_active_ > 0 || deliveries_outstanding())) {
            co_await sleep_until(Clock::now() + std::chrono::milliseconds(5));
        }
        if (stopping_) {
            co_return;
        }
        results_.drain_s = std::chrono::duration<double>(Clock::now() - drain_start).count();
        collect();
        co_await close_all();
    }

    /** CPU use since `client_cpu0` / `server_cpu0` were read at `wall0_ns`. */
    void record_cpu(double client_cpu0, std::optional<double> server_cpu0, std::int64_t wall0_ns) {
        double client_cpu1 = own_cpu_seconds();
        auto server_cpu1 = server_cpu_seconds();
        double wall = static_cast<double>(now_ns() - wall0_ns) / 1e9;
        results_.wall_s = wall;
        results_.client_cpu_s = client_cpu1 - client_cpu0;
        results_.client_cpu_pct = 100 * (client_cpu1 - client_cpu0) / wall;
        if (server_cpu0 && server_cpu1) {
            results_.server_cpu_s = *server_cpu1 - *server_cpu0;
            results_.server_cpu_pct = 100 * (*server_cpu1 - *server_cpu0) / wall;
        }
    }

    /** Measured messages that should reach member `m`: all of them in a room, its own in echo. */
    [[nodiscard]] std::uint64_t expected_at(Member const& m) const {
        return room_ ? sent_ : m.sent;
    }

    /** Some member the server has not closed still waits for deliveries. */
    [[nodiscard]] bool deliveries_outstanding() const {
        return std::any_of(members_.begin(), members_.end(), [this](auto const& m) {
            return m->open && m->delivered < expected_at(*m);
        });
    }

    /** Closes every member politely (1000), bounded; then ends the run as completed. */
    awaitable<void> close_all() {
        // Whoever has not closed by the limit is cut off.
        closing_ = true;
        for (auto& m : members_) {
            if (m->open) {
                net::co_spawn(ioc_, close_member(*m), on_done("close"));
            }
        }
        phase_timer_.expires_after(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(close_limit)));
        while (open_ > 0 && !stopping_) {
            auto [ec] = co_await phase_timer_.async_wait(use_nothrow);
            if (!ec) {
                break;
            }
        }
        for (auto& m : members_) {
            if (m->open && m->ws) {
                boost::system::error_code ignored;
                m->ws->next_layer().close(ignored);
            }
        }
        completed_ = true;
        stopping_ = true;
        watchdog_timer_.cancel();
        monitor_timer_.cancel();
        boost::system::error_code ignored;
        signals_.cancel(ignored);
        for (auto& out : server_out_) {
            out->cancel(ignored);
        }
        // Nothing else matters now; don't wait for stragglers.
        ioc_.stop();
    }

    void collect() {
        auto& r = results_;
        r.sent = sent_;
        r.delivered = delivered_;
        r.expected = sent_ * copies();
        r.lost = static_cast<std::int64_t>(r.expected) - static_cast<std::int64_t>(r.delivered);
        r.out_of_order = out_of_order_;
        r.foreign = foreign_;
        r.disconnects = disconnects_;
        r.stalls = stalls_;
        // Open loop: the measured messages that were due and not sent (there is no backlog).
        r.backlog_dropped = not_sent_pushback_ + not_sent_closed_;
        r.offered = offered_;
        r.not_sent_pushback = not_sent_pushback_;
        r.not_sent_closed = not_sent_closed_;
        r.sent_late = sent_late_;
        r.send_lag_max_us = static_cast<double>(send_lag_max_ns_) / 1e3;
        r.closed_by_server = closed_by_server_;
        r.close_codes = close_codes_;
        r.lost_at_open = 0;
        for (auto const& m : members_) {
            if (m->close_code == 0 && !m->writer) {
                r.lost_at_open +=
                    std::max<std::int64_t>(0, static_cast<std::int64_t>(expected_at(*m)) -
                                                  static_cast<std::int64_t>(m->delivered));
            }
        }
        r.p50_us = latency_.percentile(0.50) / 1e3;
        r.p99_us = latency_.percentile(0.99) / 1e3;
        r.p999_us = latency_.percentile(0.999) / 1e3;
        r.max_us = static_cast<double>(latency_.max()) / 1e3;
        r.mean_us = latency_.mean() / 1e3;
        r.handshakes = handshakes_;
        r.connect_errors = connect_errors_;
    }

    /** Mode connect: workers connect, handshake and close in a loop for warmup + duration. */
    awaitable<void> run_connect() {
        send_start_ns_ = now_ns();
        measure_start_ns_ = send_start_ns_ + seconds_to_ns(o_.warmup);
        measure_end_ns_ = measure_start_ns_ + seconds_to_ns(o_.duration);
        for (std::size_t i = 0; i < o_.members; ++i) {
            ++cycle_workers_;
            net::co_spawn(ioc_, connect_cycles(i), on_done("connect"));
        }
        co_await sleep_until(from_ns(measure_start_ns_));
        double client_cpu0 = own_cpu_seconds();
        auto server_cpu0 = server_cpu_seconds();
        auto wall0 = now_ns();
        co_await sleep_until(from_ns(measure_end_ns_));
        record_cpu(client_cpu0, server_cpu0, wall0);
        // Let the cycles in progress finish (bounded).
        auto drain_start = Clock::now();
        auto drain_end = drain_start + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(drain_limit));
        while (!stopping_ && cycle_workers_ > 0 && Clock::now() < drain_end) {
            co_await sleep_until(Clock::now() + std::chrono::milliseconds(5));
        }
        if (stopping_) {
            co_return;
        }
        results_.drain_s = std::chrono::duration<double>(Clock::now() - drain_start).count();
        collect();
        co_await close_all();
    }

    /** One connect worker: TCP connect, websocket handshake, close 1000; again until the end. */
    awaitable<void> connect_cycles(std::size_t worker) {
        std::size_t errors_in_a_row = 0;
        std::size_t server = worker % endpoints_.size();
        while (!stopping_ && now_ns() < measure_end_ns_) {
            auto t0 = now_ns();
            beast::tcp_stream stream(ioc_);
            stream.expires_after(std::chrono::seconds(5));
            auto [ec] = co_await stream.async_connect(endpoints_[server], use_nothrow);
            std::optional<Ws> ws;
            if (!ec) {
                tcp::socket socket = stream.release_socket();
                boost::system::error_code ignored;
                socket.set_option(tcp::no_delay(true), ignored);
                ws.emplace(std::move(socket));
                auto timeouts =
                    websocket::stream_base::timeout::suggested(beast::role_type::client);
                timeouts.handshake_timeout = std::chrono::seconds(5);
                timeouts.keep_alive_pings = false;
                ws->set_option(timeouts);
                set_same_site_origin(*ws, host_headers_[server]);
                auto [hec] =
                    co_await ws->async_handshake(host_headers_[server], target_, use_nothrow);
                ec = hec;
            }
            if (ec) {
                ++connect_errors_;
                if (++errors_in_a_row >= 100) {
                    fail("connect: 100 failures in a row against " + server_address(server) +
                         ", the last: " + ec.message());
                    break;
                }
                continue;
            }
            errors_in_a_row = 0;
            auto done = now_ns();
            if (t0 >= measure_start_ns_ && done <= measure_end_ns_) {
                ++handshakes_;
                latency_.record(static_cast<std::uint64_t>(done - t0));
            }
            websocket::close_reason reason(websocket::close_code::normal);
            co_await ws->async_close(reason, use_nothrow);
        }
        --cycle_workers_;
    }

    awaitable<void> connect_worker() {
        while (next_connect_ < members_.size() && !stopping_) {
            Member& m = *members_[next_connect_++];
            if (!co_await connect_member(m)) {
                co_return;
            }
        }
    }

    awaitable<bool> connect_member(Member& m) {
        beast::tcp_stream stream(ioc_);
        stream.expires_after(std::chrono::seconds(5));
        auto [ec] = co_await stream.async_connect(endpoints_[m.server], use_nothrow);
        if (ec) {
            fail("member " + std::to_string(m.index) + ": cannot connect to " +
                 server_address(m.server) + ": " + ec.message() +
                 (ec == net::error::connection_refused ? " (is the server running on that port?)"
                                                       : ""));
            co_return false;
        }
        tcp::socket socket = stream.release_socket();
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        m.ws.emplace(std::move(socket));
        Ws& ws = *m.ws;
        auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::client);
        timeouts.handshake_timeout = std::chrono::seconds(5);
        timeouts.idle_timeout = websocket::stream_base::none();
        timeouts.keep_alive_pings = false;
        ws.set_option(timeouts);
        set_same_site_origin(ws, host_headers_[m.server]);
        ws.read_message_max(std::size_t{1} << 20);
        ws.auto_fragment(false);
        ws.text(true);
        websocket::response_type res;
        auto [hec] =
            co_await ws.async_handshake(res, host_headers_[m.server], target_, use_nothrow);
        if (hec) {
            std::string answer = res.result_int() != 0 ? " (the server answered HTTP " +
                                                             std::to_string(res.result_int()) + ")"
                                                       : "";
            fail("member " + std::to_string(m.index) + ": websocket handshake with ws://" +
                 host_headers_[m.server] + target_ + " failed: " + hec.message() + answer);
            co_return false;
        }
        if (open_loop_ && m.sender) {
            // The pacer's writes must not block: TCP pushing back is what they detect.
            ws.next_layer().non_blocking(true, ignored);
            if (ignored) {
                fail("member " + std::to_string(m.index) +
                     ": cannot make its socket non-blocking: " + ignored.message());
                co_return false;
            }
        }
        m.open = true;
        ++open_;
        ++connected_;
        net::co_spawn(ioc_, reader(m), on_done("reader"));
        if (connected_ == members_.size()) {
            phase_timer_.cancel();
        }
        co_return true;
    }

    awaitable<void> reader(Member& m) {
        Ws& ws = *m.ws;
        beast::flat_buffer buffer;
        for (;;) {
            auto [ec, n] = co_await ws.async_read(buffer, use_nothrow);
            if (ec) {
                reader_ended(m, ec);
                co_return;
            }
            auto data = buffer.cdata();
            on_message(m, std::string_view(static_cast<char const*>(data.data()), n), now_ns());
            buffer.consume(buffer.size());
        }
    }

    void on_message(Member& m, std::string_view text, std::int64_t received) {
        if (burst_) {
            on_burst_frame(m, text, received);
            return;
        }
        Stamp s;
        if (!parse_stamp(text, s) || s.run != run_id_ || s.sender >= o_.senders ||
            (!room_ && s.sender != m.index)) {
            ++foreign_; // someone else's message in the room, or an error reply
            return;
        }
        if (!room_) {
            s.sender = 0; // echo: one order slot, for the member's own messages
            if (m.in_flight > 0) {
                --m.in_flight;
                m.wake.cancel();
            }
        }
        if (room_ && s.sender == m.index && m.in_flight > 0) {
            --m.in_flight; // our own copy is back: a closed-loop slot is free
            m.wake.cancel();
        }
        auto& last = m.last_seq[s.sender];
        if (s.ts >= measure_start_ns_) {
            ++delivered_;
            ++m.delivered;
            latency_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, received - s.ts)));
            if (s.seq <= last) {
                ++out_of_order_;
            }
        }
        last = std::max(last, s.seq);
    }

    void reader_ended(Member& m, boost::system::error_code ec) {
        m.open = false;
        --open_;
        m.wake.cancel();
        if (closing_) {
            if (open_ == 0) {
                phase_timer_.cancel();
            }
            return;
        }
        ++disconnects_;
        // The server ended the connection: with a close frame (its code), or without one
        // (1006, as a browser reports it). Other errors are the client's own.
        int code = 0;
        if (ec == websocket::error::closed) {
            code = m.ws->reason().code;
        } else if (ec == net::error::eof || ec == net::error::connection_reset ||
                   ec == net::error::broken_pipe) {
            code = 1006;
        }
        if (code != 0) {
            m.close_code = code;
            ++close_codes_[code];
            if (!m.writer) {
                ++closed_by_server_;
            }
        } else {
            ++client_errors_;
        }
        std::string why = ec.message();
        if (ec == net::error::eof) {
            why = "connection closed without a websocket close frame (" + ec.message() + ")";
        }
        if (ec == websocket::error::closed) {
            auto const& reason = m.ws->reason();
            why = "closed by the server with code " + std::to_string(reason.code) +
                  (reason.reason.empty()
                       ? ""
                       : " '" + std::string(reason.reason.data(), reason.reason.size()) + "'");
        }
        if (disconnects_ <= 5) {
            std::cerr << "canal-bench: "
                      << (m.writer ? "the burst writer" : "member " + std::to_string(m.index))
                      << " disconnected: " << why << "\n";
        }
        // Open loop and burst report what the server closed; the run goes on unless the
        // server died or a connection ended on the client's side.
        bool tolerated = (open_loop_ || burst_) && client_errors_ == 0;
        if (open_ == 0 && !tolerated) {
            net::co_spawn(ioc_, all_closed(why), on_done("disconnect"));
        } else if (open_ == 0) {
            net::co_spawn(ioc_, server_alive(), on_done("disconnect"));
        }
    }

    /** Everyone was closed but closures are tolerated: fail only if the server died. */
    awaitable<void> server_alive() {
        for (auto* server : servers_) {
            for (int i = 0; i < 50 && !server->exited(); ++i) {
                co_await sleep_until(Clock::now() + std::chrono::milliseconds(10));
            }
            if (server->exited()) {
                fail("the server (pid " + std::to_string(server->pid()) +
                     ") exited during the run: " + server->status());
                co_return;
            }
        }
    }

    /** Every member lost its connection: tell whether the server died (it may take a moment). */
    awaitable<void> all_closed(std::string why) {
        for (auto* server : servers_) {
            for (int i = 0; i < 50 && !server->exited(); ++i) {
                co_await sleep_until(Clock::now() + std::chrono::milliseconds(10));
            }
            if (server->exited()) {
                fail("the server (pid " + std::to_string(server->pid()) +
                     ") exited during the run: " + server->status());
                co_return;
            }
        }
        fail("the server closed all " + std::to_string(members_.size()) +
             " connections (last: " + why + ")" + (!servers_.empty() ? "" : "; did it exit?"));
    }

    std::string make_text(Member& m, std::int64_t ts) {
        std::array<char, 96> buf{};
        char* p = buf.data();
        char* end = buf.data() + buf.size();
        // 4 numbers of at most 20 digits and 3 dots always fit.
        auto put = [&](auto v, char sep) {
            auto [next, ec] = std::to_chars(p, end - 1, v);
            p = ec == std::errc() ? next : p;
            if (sep != 0 && p < end) {
                *p++ = sep;
            }
        };
        put(run_id_, '.');
        put(m.index, '.');
        put(m.seq, '.');
        put(ts, 0);
        std::string text = "{\"message\": \"";
        text.append(buf.data(), p);
        // Echo: pad the whole text to --size bytes; room: --pad more bytes.
        std::size_t pad =
            echo_ ? (o_.size > text.size() + 2 ? o_.size - text.size() - 2 : 0) : o_.pad;
        text.append(pad, 'x');
        text += "\"}";
        return text;
    }

    /** Closed loop: at most --window messages of this sender in flight. */
    awaitable<void> sender(Member& m) {
        while (sending_ && m.open && !stopping_) {
            if (m.in_flight >= o_.window) {
                m.wake.expires_after(stall_timeout);
                auto [ec] = co_await m.wake.async_wait(use_nothrow);
                if (!ec && m.in_flight >= o_.window) {
                    // Nothing came back for a while: presume the window's messages lost.
                    ++stalls_;
                    m.in_flight = 0;
                }
                continue;
            }
            std::int64_t ts = now_ns();
            if (ts >= measure_end_ns_) {
                break;
            }
            ++m.seq;
            ++m.in_flight;
            std::string text = make_text(m, ts);
            auto [ec, n] = co_await m.ws->async_write(net::buffer(text), use_nothrow);
            if (ec) {
                break; // the reader reports the disconnect
            }
            if (ts >= measure_start_ns_) {
                ++sent_;
                ++m.sent;
            }
        }
        --senders_active_;
    }

    /**
     * Open loop: message i of the run is due at send_start + i / rate, senders in turn, and
     * is written when due whatever the server does (its timestamp is the due time, so a late
     * write shows in the latency). Nothing waits for deliveries.
     */
    awaitable<void> pacer() {
        net::steady_timer timer(ioc_);
        double interval = 1e9 / o_.rate;
        std::uint64_t issued = 0;
        std::vector<Member*> senders;
        for (auto& m : members_) {
            if (m->sender) {
                senders.push_back(m.get());
            }
        }
        while (sending_ && !stopping_) {
            auto now = now_ns();
            std::int64_t due = 0;
            for (;;) {
                due = send_start_ns_ +
                      static_cast<std::int64_t>(static_cast<double>(issued) * interval);
                if (due > now || due >= measure_end_ns_) {
                    break;
                }
                send_when_due(*senders[issued % senders.size()], due);
                ++issued;
            }
            if (due >= measure_end_ns_) {
                co_return;
            }
            timer.expires_at(from_ns(due));
            co_await timer.async_wait(use_nothrow);
        }
    }

    /**
     * Writes the message due at `due` from `m` with one non-blocking write, or counts why it
     * was not sent: the server pushed back (TCP took nothing, or has not yet taken the rest of
     * an earlier frame) or the sender is closed. A frame TCP took only part of is sent; its
     * rest goes out asynchronously and the sender is blocked until then.
     */
    void send_when_due(Member& m, std::int64_t due) {
        bool measured = due >= measure_start_ns_;
        offered_ += measured ? 1 : 0;
        if (!m.open || m.write_failed) {
            not_sent_closed_ += measured ? 1 : 0;
            return;
        }
        if (m.blocked) {
            not_sent_pushback_ += measured ? 1 : 0;
            return;
        }
        ++m.seq;
        std::string text = make_text(m, due);
        frame_.clear();
        append_client_frame(frame_, text, next_mask());
        boost::system::error_code ec;
        std::size_t n = m.ws->next_layer().write_some(net::buffer(frame_), ec);
        if (ec == net::error::would_block || ec == net::error::try_again) {
            ec = {};
            n = 0;
        }
        if (ec) {
            // The reader reports the disconnect.
            m.write_failed = true;
            not_sent_closed_ += measured ? 1 : 0;
            return;
        }
        if (n == 0) {
            --m.seq; // never on the wire: keep the sequence gap-free
            not_sent_pushback_ += measured ? 1 : 0;
            m.blocked = true;
            net::co_spawn(ioc_, finish_write(m), on_done("sender"));
            return;
        }
        if (measured) {
            ++sent_;
            ++m.sent;
            auto lag = now_ns() - due;
            sent_late_ += lag > late_ns ? 1 : 0;
            send_lag_max_ns_ = std::max(send_lag_max_ns_, lag);
        }
        if (n < frame_.size()) {
            m.tail.assign(frame_, n);
            m.blocked = true;
            net::co_spawn(ioc_, finish_write(m), on_done("sender"));
        }
    }

    /** Writes the rest of a frame TCP took only part of (or waits until it takes more). */
    awaitable<void> finish_write(Member& m) {
        auto& socket = m.ws->next_layer();
        boost::system::error_code ec;
        if (m.tail.empty()) {
            auto [wec] = co_await socket.async_wait(tcp::socket::wait_write, use_nothrow);
            ec = wec;
        } else {
            auto [wec, n] = co_await net::async_write(socket, net::buffer(m.tail), use_nothrow);
            ec = wec;
        }
        m.tail.clear();
        m.blocked = false;
        m.write_failed = m.write_failed || static_cast<bool>(ec);
    }

    /** A client frame's masking key (RFC 6455: unpredictable to the network; xorshift32). */
    std::uint32_t next_mask() {
        mask_state_ ^= mask_state_ << 13;
        mask_state_ ^= mask_state_ >> 17;
        mask_state_ ^= mask_state_ << 5;
        return mask_state_;
    }

    // --- burst ---------------------------------------------------------------------------

    /** Burst: the writer puts --frames chat frames into the room in one write; members count. */
    awaitable<void> run_burst() {
        Member& writer = *members_.back();
        std::string bytes;
        bytes.reserve(o_.frames * 32);
        std::string payload;
        for (std::size_t seq = 1; seq <= o_.frames; ++seq) {
            payload = "{\"message\":\"" + std::to_string(seq) + "\"}";
            append_client_frame(bytes, payload, next_mask());
        }
        results_.burst_bytes = bytes.size();
        // Everything before this instant (handshakes) is not the burst's cost.
        measure_start_ns_ = now_ns();
        double client_cpu0 = own_cpu_seconds();
        auto server_cpu0 = server_cpu_seconds();
        auto wall0 = now_ns();
        last_frame_ns_ = wall0;
        auto [ec, n] =
            co_await net::async_write(writer.ws->next_layer(), net::buffer(bytes), use_nothrow);
        results_.burst_write_s = static_cast<double>(now_ns() - wall0) / 1e9;
        if (ec) {
            fail("the burst writer could not write its " + std::to_string(bytes.size()) +
                 " bytes: " + ec.message() + " (after " + std::to_string(n) + ")");
            co_return;
        }
        // Until every member has them all or was closed, or nothing arrived for --quiet
        // seconds, within --duration seconds.
        auto quiet_ns = seconds_to_ns(o_.quiet);
        auto deadline = wall0 + seconds_to_ns(o_.duration);
        for (;;) {
            if (stopping_) {
                co_return;
            }
            bool settled = std::all_of(members_.begin(), members_.end(), [this](auto const& m) {
                return m->writer || !m->open || m->burst_received >= o_.frames;
            });
            auto now = now_ns();
            if (settled || now - last_frame_ns_ >= quiet_ns) {
                break;
            }
            if (now >= deadline) {
                // Frames were still arriving: a member short of them is slow, not (yet)
                // known to have lost any.
                burst_unfinished_ = true;
                break;
            }
            co_await sleep_until(Clock::now() + std::chrono::milliseconds(10));
        }
        record_cpu(client_cpu0, server_cpu0, wall0);
        results_.burst_last_frame_s = static_cast<double>(last_frame_ns_ - wall0) / 1e9;
        collect();
        collect_burst();
        co_await close_all();
    }

    void on_burst_frame(Member& m, std::string_view text, std::int64_t received) {
        last_frame_ns_ = received;
        std::uint64_t seq = 0;
        if (!parse_burst_seq(text, seq)) {
            ++foreign_; // not a burst frame (an error reply, another client of the room)
            return;
        }
        ++m.burst_received;
        if (seq > m.burst_next) {
            m.burst_missing += seq - m.burst_next;
        } else if (seq < m.burst_next) {
            ++m.burst_backwards;
        }
        m.burst_next = std::max(m.burst_next, seq + 1);
    }

    /**
     * Each member's outcome: complete (all frames, in order); closed by the server with a
     * code after a gap-free prefix; cut short, gap-free, because the server closed the
     * writer; out of order (a frame went backwards: reordered or duplicated); otherwise a
     * silent loss (frames skipped, or fewer than all on a connection still open).
     */
    void collect_burst() {
        auto& r = results_;
        Member const& writer = *members_.back();
        r.burst_writer_received = writer.burst_received;
        r.burst_writer_close_code = writer.close_code;
        // The writer is in the room too: its own copies must come back like everyone's.
        bool writer_gap_free = writer.burst_missing == 0 && writer.burst_backwards == 0;
        if (writer.burst_backwards > 0) {
            r.burst_writer_outcome = "out of order";
        } else if (writer_gap_free && writer.burst_next == o_.frames + 1) {
            r.burst_writer_outcome = "complete";
        } else if (writer_gap_free && writer.close_code != 0) {
            r.burst_writer_outcome = "closed by the server";
        } else if (writer_gap_free && burst_unfinished_) {
            r.burst_writer_outcome = "unfinished";
        } else {
            r.burst_writer_outcome = "silent loss";
        }
        bool first_short = true;
        std::size_t examples = 0;
        for (auto const& mp : members_) {
            Member const& m = *mp;
            if (m.writer) {
                continue;
            }
            r.burst_received += m.burst_received;
            bool gap_free = m.burst_missing == 0 && m.burst_backwards == 0;
            bool all = m.burst_next == o_.frames + 1;
            std::string_view outcome;
            if (m.burst_backwards > 0) {
                ++r.burst_disorder;
                outcome = "out of order";
            } else if (gap_free && all) {
                ++r.burst_complete;
            } else if (gap_free && m.close_code != 0) {
                ++r.burst_closed;
            } else if (gap_free && writer.close_code != 0) {
                ++r.burst_cut_by_writer_close;
            } else if (gap_free && burst_unfinished_) {
                ++r.burst_unfinished;
            } else {
                ++r.burst_silent_loss;
                outcome = "silent loss";
            }
            if (!outcome.empty() || (!all && m.close_code == 0)) {
                if (first_short || m.burst_received < r.burst_short_min) {
                    r.burst_short_min = m.burst_received;
                }
                r.burst_short_max = std::max(r.burst_short_max, m.burst_received);
                first_short = false;
            }
            if (!outcome.empty() && examples++ < 3) {
                r.burst_examples +=
                    "member " + std::to_string(m.index) + ": " + std::string(outcome) +
                    ", received " + std::to_string(m.burst_received) + " of " +
                    std::to_string(o_.frames) + ", skipped " + std::to_string(m.burst_missing) +
                    ", backwards " + std::to_string(m.burst_backwards) +
                    (m.close_code != 0 ? ", then closed with " + std::to_string(m.close_code)
                                       : ", connection still open") +
                    "\n";
            }
        }
    }

    awaitable<void> close_member(Member& m) {
        if (m.blocked) {
            // A frame's rest is still being written: a close frame now would cut into it.
            boost::system::error_code ignored;
            m.ws->next_layer().close(ignored);
            co_return;
        }
        websocket::close_reason reason(websocket::close_code::normal);
        co_await m.ws->async_close(reason, use_nothrow);
    }

    awaitable<void> watchdog() {
        watchdog_timer_.expires_after(time_limit());
        auto [ec] = co_await watchdog_timer_.async_wait(use_nothrow);
        if (!ec) {
            fail("the run took longer than its limit of " + std::to_string(time_limit().count()) +
                 " s; giving up");
        }
    }

    awaitable<void> watch_server() {
        while (!completed_) {
            monitor_timer_.expires_after(std::chrono::milliseconds(50));
            auto [ec] = co_await monitor_timer_.async_wait(use_nothrow);
            if (ec) {
                co_return;
            }
            for (auto* server : servers_) {
                if (server->exited()) {
                    fail("the server (pid " + std::to_string(server->pid()) +
                         ") exited during the run: " + server->status());
                    co_return;
                }
            }
        }
    }

    awaitable<void> forward_server_output(net::posix::stream_descriptor& out) {
        std::array<char, 4096> buf{};
        for (;;) {
            auto [ec, n] = co_await out.async_read_some(net::buffer(buf), use_nothrow);
            if (ec) {
                co_return;
            }
            std::cerr.write(buf.data(), static_cast<std::streamsize>(n));
        }
    }

    net::io_context& ioc_;
    Options const& o_;
    std::vector<tcp::endpoint> endpoints_;
    std::vector<ServerProcess*> servers_;
    std::vector<int> watched_pids_;
    std::vector<std::string> host_headers_;
    std::string target_;
    bool room_ = false;
    bool echo_ = false;
    bool burst_ = false;
    bool open_loop_ = false;
    std::string frame_;
    std::uint32_t mask_state_ = 0x9e3779b9U;
    std::uint64_t run_id_ = 0;

    std::vector<std::unique_ptr<Member>> members_;
    net::steady_timer phase_timer_;
    net::steady_timer watchdog_timer_;
    net::steady_timer monitor_timer_;
    net::signal_set signals_;
    std::vector<std::unique_ptr<net::posix::stream_descriptor>> server_out_;

    std::size_t next_connect_ = 0;
    std::size_t connected_ = 0;
    std::size_t open_ = 0;
    std::size_t senders_active_ = 0;
    bool sending_ = false;
    bool closing_ = false;
    bool stopping_ = false;
    bool completed_ = false;
    std::string error_;

    std::int64_t send_start_ns_ = 0;
    // Until sending starts, nothing counts.
    std::int64_t measure_start_ns_ = std::numeric_limits<std::int64_t>::max();
    std::int64_t measure_end_ns_ = 0;

    std::uint64_t sent_ = 0;
    std::uint64_t delivered_ = 0;
    std::uint64_t out_of_order_ = 0;
    std::uint64_t foreign_ = 0;
    std::uint64_t disconnects_ = 0;
    std::uint64_t stalls_ = 0;
    std::uint64_t offered_ = 0;
    std::uint64_t not_sent_pushback_ = 0;
    std::uint64_t not_sent_closed_ = 0;
    std::uint64_t sent_late_ = 0;
    std::int64_t send_lag_max_ns_ = 0;
    std::uint64_t closed_by_server_ = 0;
    std::uint64_t client_errors_ = 0;
    std::map<int, std::uint64_t> close_codes_;
    std::int64_t last_frame_ns_ = 0;
    bool burst_unfinished_ = false;
    std::uint64_t handshakes_ = 0;
    std::uint64_t connect_errors_ = 0;
    std::size_t cycle_workers_ = 0;
    Histogram latency_;
    Results results_;
};

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

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            std::array<char, 8> buf{};
            std::snprintf(buf.data(), buf.size(), "\\u%04x", static_cast<unsigned>(c));
            out += buf.data();
        } else {
            out += c;
        }
    }
    return out + "\"";
}

/** "1008 x3, 1006 x1" for the table. */
std::string describe_close_codes(std::map<int, std::uint64_t> const& codes) {
    std::string out;
    for (auto const& [code, count] : codes) {
        out += (out.empty() ? "" : ", ") + std::to_string(code) + " x" + std::to_string(count);
    }
    return out;
}

/** {"1008":3} for the JSON line. */
std::string json_close_codes(std::map<int, std::uint64_t> const& codes) {
    std::string out = "{";
    for (auto const& [code, count] : codes) {
        out +=
            (out.size() > 1 ? ",\"" : "\"") + std::to_string(code) + "\":" + std::to_string(count);
    }
    return out + "}";
}

/** Appends `,"key":value` to a JSON object under construction. */
void json_field(std::string& j, std::string_view key, std::string const& value) {
    j += ",\"";
    j += key;
    j += "\":";
    j += value;
}

std::string json_optional(std::optional<double> v, int decimals) {
    return v ? fixed(*v, decimals) : std::string("null");
}

/** The servers, spawned or not, and what follows every mode's JSON line. */
void json_servers(std::string& j, Options const& o, std::string const& server_exit,
                  std::size_t servers) {
    json_field(j, "spawned", o.spawn.empty() ? "false" : "true");
    json_field(j, "servers", std::to_string(servers));
    json_field(j, "server_threads", o.spawn.empty() ? "null" : std::to_string(o.server_threads));
    std::string server_args = "[";
    for (auto const& a : o.server_args) {
        server_args += (server_args.size() > 1 ? "," : "") + json_string(a);
    }
    json_field(j, "server_args", server_args + "]");
    json_field(j, "server_exit", o.spawn.empty() ? "null" : json_string(server_exit));
}

void report_burst(Options const& o, std::vector<tcp::endpoint> const& eps, Results const& r,
                  std::string const& server_exit) {
    std::string path = "/ws/chat/" + o.room + "/";
    auto& out = std::cout;
    auto expected = static_cast<std::uint64_t>(o.members) * o.frames;
    out << "canal-bench burst: " << o.members << " members, " << o.frames
        << " chat frames in one write (" << r.burst_bytes << " bytes) by one more client\n";
    for (auto const& ep : eps) {
        out << "  server        ws://" << ep.address().to_string() << ":" << ep.port() << path;
        if (!o.spawn.empty()) {
            out << "  (spawned, --threads " << o.server_threads << ", exit: " << server_exit << ")";
        }
        out << "\n";
    }
    out << "  connect       " << fixed(r.connect_s, 2) << " s for " << o.members
        << " members and the writer\n";
    out << "  write         " << fixed(r.burst_write_s * 1e3, 1) << " ms until TCP took it all\n";
    out << "  received      " << r.burst_received << " of " << expected << " frames; the last "
        << fixed(r.burst_last_frame_s, 3) << " s after the write\n";
    out << "  members       complete " << r.burst_complete << ", closed by the server "
        << r.burst_closed << ", cut short by the writer's close " << r.burst_cut_by_writer_close
        << ", SILENT LOSS " << r.burst_silent_loss << ", OUT OF ORDER " << r.burst_disorder << "\n";
    if (r.burst_unfinished != 0 || r.burst_writer_outcome == "unfinished") {
        out << "  unfinished    " << r.burst_unfinished
            << " members (writer: " << r.burst_writer_outcome
            << ") were still receiving when --duration " << fixed(o.duration, 0)
            << " s ran out: raise it to know whether they lose frames\n";
    }
    if (!r.close_codes.empty()) {
        out << "  close codes   " << describe_close_codes(r.close_codes)
            << " (members and writer; 1006 = closed without a close frame)\n";
    }
    if (r.burst_silent_loss + r.burst_disorder + r.burst_cut_by_writer_close + r.burst_unfinished !=
        0) {
        out << "  short members received " << r.burst_short_min << " to " << r.burst_short_max
            << " frames\n";
    }
    bool writer_bad =
        r.burst_writer_outcome == "silent loss" || r.burst_writer_outcome == "out of order";
    std::string writer_outcome = r.burst_writer_outcome;
    if (writer_bad) {
        std::transform(writer_outcome.begin(), writer_outcome.end(), writer_outcome.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    }
    out << "  writer        received " << r.burst_writer_received << " of its " << o.frames
        << " frames back: " << writer_outcome << ", "
        << (r.burst_writer_close_code != 0
                ? "closed by the server with " + std::to_string(r.burst_writer_close_code)
                : std::string("still open"))
        << "\n";
    out << "  cpu           client " << fixed(r.client_cpu_s, 3) << " s, server "
        << (r.server_cpu_s ? fixed(*r.server_cpu_s, 3) + " s" : std::string("n/a")) << " over "
        << fixed(r.wall_s, 3) << " s\n";
    if (r.foreign != 0) {
        out << "  foreign       " << r.foreign << " frames that were not burst frames\n";
    }
    std::istringstream examples(r.burst_examples);
    for (std::string line; std::getline(examples, line);) {
        out << "  " << line << "\n";
    }

    std::string j = "{\"mode\":\"burst\"";
    json_field(j, "host", json_string(eps.front().address().to_string()));
    std::string ports = "[";
    for (auto const& ep : eps) {
        ports += (ports.size() > 1 ? "," : "") + std::to_string(ep.port());
    }
    json_field(j, "ports", ports + "]");
    json_field(j, "path", json_string(path));
    json_field(j, "room", json_string(o.room));
    json_field(j, "members", std::to_string(o.members));
    json_field(j, "frames", std::to_string(o.frames));
    json_field(j, "burst_bytes", std::to_string(r.burst_bytes));
    json_field(j, "connect_s", fixed(r.connect_s, 3));
    json_field(j, "write_s", fixed(r.burst_write_s, 6));
    json_field(j, "last_frame_s", fixed(r.burst_last_frame_s, 3));
    json_field(j, "quiet_s", fixed(o.quiet, 3));
    json_field(j, "expected", std::to_string(expected));
    json_field(j, "received", std::to_string(r.burst_received));
    json_field(j, "complete", std::to_string(r.burst_complete));
    json_field(j, "closed_by_server", std::to_string(r.burst_closed));
    json_field(j, "cut_by_writer_close", std::to_string(r.burst_cut_by_writer_close));
    json_field(j, "unfinished", std::to_string(r.burst_unfinished));
    json_field(j, "silent_loss", std::to_string(r.burst_silent_loss));
    json_field(j, "out_of_order", std::to_string(r.burst_disorder));
    json_field(j, "close_codes", json_close_codes(r.close_codes));
    bool short_any =
        r.burst_silent_loss + r.burst_disorder + r.burst_cut_by_writer_close + r.burst_unfinished !=
        0;
    json_field(j, "short_min", short_any ? std::to_string(r.burst_short_min) : "null");
    json_field(j, "short_max", short_any ? std::to_string(r.burst_short_max) : "null");
    json_field(j, "writer_received", std::to_string(r.burst_writer_received));
    json_field(j, "writer_outcome", json_string(r.burst_writer_outcome));
    json_field(j, "writer_close_code",
               r.burst_writer_close_code != 0 ? std::to_string(r.burst_writer_close_code) : "null");
    json_field(j, "foreign", std::to_string(r.foreign));
    json_field(j, "wall_s", fixed(r.wall_s, 3));
    json_field(j, "client_cpu_s", fixed(r.client_cpu_s, 3));
    json_field(j, "server_cpu_s", json_optional(r.server_cpu_s, 3));
    std::optional<double> per_cpu;
    if (r.server_cpu_s && *r.server_cpu_s > 0) {
        per_cpu = static_cast<double>(r.burst_received) / *r.server_cpu_s;
    }
    json_field(j, "deliveries_per_server_cpu_s", json_optional(per_cpu, 0));
    json_field(j, "disconnects", std::to_string(r.disconnects));
    json_servers(j, o, server_exit, eps.size());
    j += "}";
    out << j << std::endl;
}

void report(Options const& o, std::vector<tcp::endpoint> const& eps, Results const& r,
            std::string const& server_exit) {
    if (o.mode == "burst") {
        report_burst(o, eps, r, server_exit);
        return;
    }
    double per_s = 1 / o.duration;
    double sent_per_s = static_cast<double>(r.sent) * per_s;
    double deliveries_per_s = static_cast<double>(r.delivered) * per_s;
    std::string load = o.rate > 0 ? "fixed rate " + fixed(o.rate, 0) + " msg/s"
                                  : "closed loop (window " + std::to_string(o.window) + ")";
    std::string server_cpu = r.server_cpu_pct ? fixed(*r.server_cpu_pct, 1) + " %" : "n/a";
    std::string path = o.mode == "room" ? "/ws/chat/" + o.room + "/" : o.path;
    auto& out = std::cout;
    std::string plural = o.members == 1 ? "" : "s";
    if (o.mode == "room") {
        out << "canal-bench room: " << o.members << " members, " << o.senders << " sender"
            << (o.senders == 1 ? "" : "s") << ", " << load << ", " << fixed(o.duration, 1)
            << " s measured after " << fixed(o.warmup, 1) << " s warmup\n";
    } else if (o.mode == "echo") {
        out << "canal-bench echo: " << o.members << " connection" << plural << ", " << o.size
            << "-byte messages, " << load << ", " << fixed(o.duration, 1) << " s measured after "
            << fixed(o.warmup, 1) << " s warmup\n";
    } else if (o.mode == "connect") {
        out << "canal-bench connect: " << o.members << " parallel worker" << plural << ", "
            << fixed(o.duration, 1) << " s measured after " << fixed(o.warmup, 1) << " s warmup\n";
    } else {
        out << "canal-bench idle: " << o.members << " connection" << plural << " held for "
            << fixed(o.duration, 1) << " s\n";
    }
    for (auto const& ep : eps) {
        out << "  server        ws://" << ep.address().to_string() << ":" << ep.port() << path;
        if (!o.spawn.empty()) {
            out << "  (spawned, --threads " << o.server_threads << ", exit: " << server_exit << ")";
        }
        out << "\n";
    }
    if (o.mode == "room" || o.mode == "echo") {
        out << "  connect       " << fixed(r.connect_s, 2) << " s for " << o.members
            << (o.mode == "room" ? " members\n" : " connections\n");
        if (o.rate > 0) {
            out << "  offered       " << r.offered << " msgs due in the measured window ("
                << fixed(o.rate, 1) << " /s)\n";
            out << "  not sent      " << r.not_sent_pushback
                << " (server pushed back: TCP did not take them when due), " << r.not_sent_closed
                << " (sender closed)\n";
        }
        out << "  sent          " << r.sent << " msgs, " << fixed(sent_per_s, 1) << " /s";
        if (o.rate > 0) {
            out << " (" << r.sent_late << " written over 1 ms late, max lag "
                << fixed(r.send_lag_max_us / 1e3, 2) << " ms)";
        }
        out << "\n";
        out << "  " << (o.mode == "room" ? "delivered   " : "echoed      ") << "  " << r.delivered
            << ", " << fixed(deliveries_per_s, 1) << " /s (expected " << r.expected << ", lost "
            << r.lost << ", drained in " << fixed(r.drain_s, 2) << " s)\n";
        out << "  out of order  " << r.out_of_order << "\n";
        if (r.closed_by_server != 0 || r.lost != 0) {
            out << "  closed        " << r.closed_by_server << " members by the server"
                << (r.close_codes.empty() ? "" : " (" + describe_close_codes(r.close_codes) + ")")
                << "; lost at members still open: " << r.lost_at_open << " (silent)\n";
        }
    } else if (o.mode == "connect") {
        out << "  handshakes    " << r.handshakes << ", "
            << fixed(static_cast<double>(r.handshakes) * per_s, 1) << " /s (connect errors "
            << r.connect_errors << ")\n";
    } else {
        out << "  connect       " << fixed(r.connect_s, 2) << " s for " << o.members
            << " connections\n";
    }
    if (o.mode != "idle") {
        out << "  latency (us)  p50 " << fixed(r.p50_us, 1) << "  p99 " << fixed(r.p99_us, 1)
            << "  p99.9 " << fixed(r.p999_us, 1) << "  max " << fixed(r.max_us, 1) << "  mean "
            << fixed(r.mean_us, 1)
            << (o.mode == "echo"      ? " (round trip)"
                : o.mode == "connect" ? " (connect + handshake)"
                                      : "")
            << "\n";
    }
    std::optional<double> rss_per_conn;
    if (r.server_rss_before_kib && r.server_rss_after_kib) {
        rss_per_conn =
            (*r.server_rss_after_kib - *r.server_rss_before_kib) / static_cast<double>(o.members);
        out << "  server RSS    " << fixed(*r.server_rss_before_kib / 1024, 1) << " MiB -> "
            << fixed(*r.server_rss_after_kib / 1024, 1) << " MiB, " << fixed(*rss_per_conn, 2)
            << " KiB per connection\n";
        if (r.server_rss_closed_kib) {
            out << "  after close   " << fixed(*r.server_rss_closed_kib / 1024, 1)
                << " MiB (lowest in the " << fixed(o.settle, 0) << " s after the last close)\n";
        }
    } else if (o.mode == "idle") {
        out << "  server RSS    n/a (needs --spawn or --server-pid)\n";
    }
    if (r.client_rss_kib) {
        out << "  client RSS    " << fixed(*r.client_rss_kib / 1024, 1) << " MiB\n";
    }
    out << "  cpu           client " << fixed(r.client_cpu_pct, 1) << " %, server " << server_cpu
        << " (100 % = one core)";
    if (r.server_cpu_pct && o.mode != "idle") {
        auto n = o.mode == "connect" ? r.handshakes : r.delivered;
        if (n > 0) {
            out << ", server "
                << fixed(*r.server_cpu_pct / 100 * o.duration * 1e6 / static_cast<double>(n), 2)
                << (o.mode == "room"   ? " us/delivery"
                    : o.mode == "echo" ? " us/round trip"
                                       : " us/handshake");
        }
    }
    out << "\n";
    if (r.client_cpu_pct > 90) {
        out << "  note          canal-bench used " << fixed(r.client_cpu_pct, 0)
            << " % of its core: the load generator may be the ceiling of this run\n";
    }
    if (r.disconnects + r.stalls + r.backlog_dropped + r.foreign != 0) {
        out << "  anomalies     disconnects " << r.disconnects << ", window stalls " << r.stalls
            << ", unsent backlog " << r.backlog_dropped << ", foreign messages " << r.foreign
            << "\n";
    }

    std::string j = "{\"mode\":" + json_string(o.mode);
    auto field = [&j](std::string_view key, std::string const& value) {
        j += ",\"";
        j += key;
        j += "\":";
        j += value;
    };
    auto optional = [](std::optional<double> v, int decimals) {
        return v ? fixed(*v, decimals) : std::string("null");
    };
    field("host", json_string(eps.front().address().to_string()));
    std::string ports = "[";
    for (auto const& ep : eps) {
        ports += (ports.size() > 1 ? "," : "") + std::to_string(ep.port());
    }
    field("ports", ports + "]");
    field("path", json_string(path));
    if (o.mode == "room") {
        field("room", json_string(o.room));
        field("members", std::to_string(o.members));
        field("senders", std::to_string(o.senders));
    } else {
        field("connections", std::to_string(o.members));
    }
    if (o.mode == "room" || o.mode == "echo") {
        field("rate", fixed(o.rate, 1));
        field("window", o.rate > 0 ? "null" : std::to_string(o.window));
        if (o.mode == "room") {
            field("pad", std::to_string(o.pad));
        } else {
            field("size", std::to_string(o.size));
        }
    }
    field("duration_s", fixed(o.duration, 3));
    field("warmup_s", o.mode == "idle" ? "0" : fixed(o.warmup, 3));
    if (o.mode == "room" || o.mode == "echo") {
        field("connect_s", fixed(r.connect_s, 3));
        field("sent", std::to_string(r.sent));
        field("sent_per_s", fixed(sent_per_s, 1));
        field("delivered", std::to_string(r.delivered));
        field("deliveries_per_s", fixed(deliveries_per_s, 1));
        if (o.mode == "echo") {
            field("msgs_per_s", fixed(deliveries_per_s, 1)); // round trips per second
        }
        field("expected", std::to_string(r.expected));
        field("lost", std::to_string(r.lost));
        field("out_of_order", std::to_string(r.out_of_order));
        bool open = o.rate > 0;
        field("offered", open ? std::to_string(r.offered) : "null");
        field("not_sent_pushback", open ? std::to_string(r.not_sent_pushback) : "null");
        field("not_sent_closed", open ? std::to_string(r.not_sent_closed) : "null");
        field("sent_late", open ? std::to_string(r.sent_late) : "null");
        field("send_lag_max_us", open ? fixed(r.send_lag_max_us, 1) : "null");
        field("closed_by_server", std::to_string(r.closed_by_server));
        field("close_codes", json_close_codes(r.close_codes));
        field("lost_at_open_members", std::to_string(r.lost_at_open));
    }
    if (o.mode == "connect") {
        field("handshakes", std::to_string(r.handshakes));
        field("handshakes_per_s", fixed(static_cast<double>(r.handshakes) * per_s, 1));
        field("connect_errors", std::to_string(r.connect_errors));
    }
    if (o.mode != "idle") {
        field("latency_p50_us", fixed(r.p50_us, 1));
        field("latency_p99_us", fixed(r.p99_us, 1));
        field("latency_p999_us", fixed(r.p999_us, 1));
        field("latency_max_us", fixed(r.max_us, 1));
        field("latency_mean_us", fixed(r.mean_us, 1));
    } else {
        field("connect_s", fixed(r.connect_s, 3));
        field("server_rss_before_kib", optional(r.server_rss_before_kib, 0));
        field("server_rss_after_kib", optional(r.server_rss_after_kib, 0));
        field("server_rss_per_conn_kib", optional(rss_per_conn, 3));
        field("server_rss_closed_kib", optional(r.server_rss_closed_kib, 0));
        field("client_rss_kib", optional(r.client_rss_kib, 0));
    }
    field("client_cpu_pct", fixed(r.client_cpu_pct, 1));
    field("server_cpu_pct", optional(r.server_cpu_pct, 1));
    // Server CPU per delivery / round trip / handshake: less sensitive than the rate to a
    // server that did not get its core to itself.
    std::optional<double> ops;
    if (o.mode == "room" || o.mode == "echo") {
        ops = static_cast<double>(r.delivered);
    } else if (o.mode == "connect") {
        ops = static_cast<double>(r.handshakes);
    }
    std::optional<double> cpu_per_op;
    if (ops && *ops > 0 && r.server_cpu_pct) {
        cpu_per_op = *r.server_cpu_pct / 100 * o.duration * 1e6 / *ops;
    }
    field("server_cpu_us_per_op", optional(cpu_per_op, 3));
    field("client_cpu_s", fixed(r.client_cpu_s, 3));
    field("server_cpu_s", optional(r.server_cpu_s, 3));
    std::optional<double> per_cpu_s;
    if (ops && r.server_cpu_s && *r.server_cpu_s > 0) {
        per_cpu_s = *ops / *r.server_cpu_s;
    }
    field("ops_per_server_cpu_s", optional(per_cpu_s, 0));
    field("drain_s", fixed(r.drain_s, 3));
    field("disconnects", std::to_string(r.disconnects));
    if (o.mode == "room" || o.mode == "echo") {
        field("window_stalls", std::to_string(r.stalls));
        field("unsent_backlog", std::to_string(r.backlog_dropped));
        field("foreign", std::to_string(r.foreign));
    }
    json_servers(j, o, server_exit, eps.size());
    j += "}";
    out << j << std::endl;
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

    bool completed = false;
    std::string error;
    Results results;
    {
        net::io_context ioc(1);
        Bench bench(ioc, o, endpoints, spawned, watched_pids);
        // Last resort if the event loop itself hangs: SIGALRM ends us, PDEATHSIG the server.
        alarm(static_cast<unsigned>(bench.time_limit().count() + 10));
        bench.start();
        ioc.run();
        alarm(0);
        completed = bench.completed();
        error = bench.error();
        results = bench.results();
    }
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

int main(int argc, char** argv) {
    Options options = parse_options(argc, argv);
    try {
        return run_bench(options);
    } catch (std::exception const& e) {
        std::cerr << "canal-bench: " << e.what() << "\n";
        return 1;
    }
}
