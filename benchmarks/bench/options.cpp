// canal-bench's command line: Boost.Program_options reads it, then the modes' rules are checked.
#include "bench/options.hpp"

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/parsers.hpp>
#include <boost/program_options/positional_options.hpp>
#include <boost/program_options/variables_map.hpp>

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <iostream>
#include <string_view>

namespace canal_bench {

namespace {

namespace po = boost::program_options;

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
  --login USER:PASSWORD room on canal-chat's multichat instead (/chat/stream/, logged in
                        through /login/, the room joined with a join command, messages
                        sent with send commands); given twice, the first user is the
                        senders', the second the other members' (room mode only)
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

int parse_int(std::string_view flag, std::string_view text) {
    int value = 0;
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
        int first = parse_int(flag, item.substr(0, dash));
        int last = dash == std::string_view::npos ? first : parse_int(flag, item.substr(dash + 1));
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

// "--server-arg --consumer=sync": a value that starts with "--" is what --server-arg is for,
// but Program_options takes it for an option: glue each such pair into "--server-arg=VALUE".
std::vector<std::string> glue_server_args(int argc, char** argv) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--server-arg" && i + 1 < argc) {
            arg += "=";
            arg += argv[++i];
        }
        args.push_back(std::move(arg));
    }
    return args;
}

} // namespace

void usage_error(std::string const& message) {
    std::cerr << "canal-bench: " << message << "\n(run 'canal-bench --help' for the options)\n";
    std::exit(2);
}

Options parse_options(int argc, char** argv) {
    Options o;
    std::vector<std::string> server_cpu;
    std::vector<std::string> client_cpu;
    po::options_description flags;
    // The help text is usage_text: these only say what each flag stores.
    // One flag a line:
    // clang-format off
    flags.add_options()
        ("help,h", "")
        ("mode", po::value(&o.mode), "")
        ("host", po::value(&o.host), "")
        ("port", po::value(&o.ports), "")
        ("members", po::value(&o.members), "")
        ("connections", po::value<std::size_t>(), "")
        ("size", po::value(&o.size), "")
        ("path", po::value(&o.path), "")
        ("servers", po::value(&o.servers), "")
        ("senders", po::value(&o.senders), "")
        ("duration", po::value(&o.duration), "")
        ("warmup", po::value(&o.warmup), "")
        ("rate", po::value(&o.rate), "")
        ("window", po::value(&o.window), "")
        ("room", po::value(&o.room), "")
        ("pad", po::value(&o.pad), "")
        ("frames", po::value(&o.frames), "")
        ("quiet", po::value(&o.quiet), "")
        ("settle", po::value(&o.settle), "")
        ("spawn", po::value(&o.spawn), "")
        ("server-threads", po::value(&o.server_threads), "")
        ("server-arg", po::value(&o.server_args), "")
        ("server-cpu", po::value(&server_cpu), "")
        ("client-cpu", po::value(&client_cpu), "")
        ("server-pid", po::value(&o.server_pids), "")
        ("login", po::value<std::vector<std::string>>(), "");
    // clang-format on
    po::positional_options_description mode;
    mode.add("mode", 1);
    po::variables_map given;
    try {
        auto const args = glue_server_args(argc, argv);
        po::store(po::command_line_parser(args).options(flags).positional(mode).run(), given);
        if (given.count("help") != 0) {
            std::cout << usage_text;
            std::exit(0);
        }
        po::notify(given);
    } catch (po::error const& e) {
        usage_error(e.what());
    }
    o.members_given = given.count("members") != 0;
    o.duration_given = given.count("duration") != 0;
    o.window_given = given.count("window") != 0;
    if (given.count("connections") != 0) {
        o.connections = given["connections"].as<std::size_t>();
    }
    // A repeated --server-cpu / --client-cpu: the last one counts, as before.
    if (!server_cpu.empty()) {
        o.server_cpus = parse_cpus("--server-cpu", server_cpu.back());
    }
    if (!client_cpu.empty()) {
        o.client_cpus = parse_cpus("--client-cpu", client_cpu.back());
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
    if (given.count("login") != 0) {
        for (auto const& pair : given["login"].as<std::vector<std::string>>()) {
            auto const colon = pair.find(':');
            if (colon == std::string::npos || colon == 0) {
                usage_error("--login takes USER:PASSWORD, not '" + pair + "'");
            }
            o.logins.emplace_back(pair.substr(0, colon), pair.substr(colon + 1));
        }
        if (o.mode != "room" || o.logins.size() > 2) {
            usage_error("--login applies to room mode, once or twice");
        }
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

} // namespace canal_bench
