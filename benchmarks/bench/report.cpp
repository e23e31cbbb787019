// canal-bench's report: the table, then the JSON line built with Boost.JSON.
#include "bench/report.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>

namespace canal_bench {

namespace {

namespace json = boost::json;

/** "1008 x3, 1006 x1" for the table. */
std::string describe_close_codes(std::map<int, std::uint64_t> const& codes) {
    std::string out;
    for (auto const& [code, count] : codes) {
        out += (out.empty() ? "" : ", ") + std::to_string(code) + " x" + std::to_string(count);
    }
    return out;
}

/** `v` rounded to `decimals` places: the JSON line carries what the table shows. */
double rounded(double v, int decimals) {
    double const scale = std::pow(10.0, decimals);
    return std::round(v * scale) / scale;
}

/** A rounded number, or null. */
json::value optional_number(std::optional<double> v, int decimals) {
    return v ? json::value(rounded(*v, decimals)) : json::value(nullptr);
}

/** {"1008":3} for the JSON line. */
json::object close_codes_object(std::map<int, std::uint64_t> const& codes) {
    json::object out;
    for (auto const& [code, count] : codes) {
        out[std::to_string(code)] = count;
    }
    return out;
}

json::array ports_array(std::vector<tcp::endpoint> const& eps) {
    json::array ports;
    for (auto const& ep : eps) {
        ports.push_back(ep.port());
    }
    return ports;
}

/** The servers, spawned or not, and what follows every mode's JSON line. */
void add_servers(json::object& j, Options const& o, std::string const& server_exit,
                 std::size_t servers) {
    j["spawned"] = !o.spawn.empty();
    j["servers"] = servers;
    j["server_threads"] = o.spawn.empty() ? json::value(nullptr) : json::value(o.server_threads);
    json::array server_args;
    for (auto const& a : o.server_args) {
        server_args.emplace_back(a);
    }
    j["server_args"] = std::move(server_args);
    j["server_exit"] = o.spawn.empty() ? json::value(nullptr) : json::value(server_exit);
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

    json::object j;
    j["mode"] = "burst";
    j["host"] = json::value(eps.front().address().to_string());
    j["ports"] = ports_array(eps);
    j["path"] = json::value(path);
    j["room"] = json::value(o.room);
    j["members"] = json::value(o.members);
    j["frames"] = json::value(o.frames);
    j["burst_bytes"] = json::value(r.burst_bytes);
    j["connect_s"] = rounded(r.connect_s, 3);
    j["write_s"] = rounded(r.burst_write_s, 6);
    j["last_frame_s"] = rounded(r.burst_last_frame_s, 3);
    j["quiet_s"] = rounded(o.quiet, 3);
    j["expected"] = json::value(expected);
    j["received"] = json::value(r.burst_received);
    j["complete"] = json::value(r.burst_complete);
    j["closed_by_server"] = json::value(r.burst_closed);
    j["cut_by_writer_close"] = json::value(r.burst_cut_by_writer_close);
    j["unfinished"] = json::value(r.burst_unfinished);
    j["silent_loss"] = json::value(r.burst_silent_loss);
    j["out_of_order"] = json::value(r.burst_disorder);
    j["close_codes"] = close_codes_object(r.close_codes);
    bool short_any =
        r.burst_silent_loss + r.burst_disorder + r.burst_cut_by_writer_close + r.burst_unfinished !=
        0;
    j["short_min"] = short_any ? json::value(r.burst_short_min) : json::value(nullptr);
    j["short_max"] = short_any ? json::value(r.burst_short_max) : json::value(nullptr);
    j["writer_received"] = json::value(r.burst_writer_received);
    j["writer_outcome"] = json::value(r.burst_writer_outcome);
    j["writer_close_code"] = r.burst_writer_close_code != 0 ? json::value(r.burst_writer_close_code)
                                                            : json::value(nullptr);
    j["foreign"] = json::value(r.foreign);
    j["wall_s"] = rounded(r.wall_s, 3);
    j["client_cpu_s"] = rounded(r.client_cpu_s, 3);
    j["server_cpu_s"] = optional_number(r.server_cpu_s, 3);
    std::optional<double> per_cpu;
    if (r.server_cpu_s && *r.server_cpu_s > 0) {
        per_cpu = static_cast<double>(r.burst_received) / *r.server_cpu_s;
    }
    j["deliveries_per_server_cpu_s"] = optional_number(per_cpu, 0);
    j["disconnects"] = json::value(r.disconnects);
    add_servers(j, o, server_exit, eps.size());
    out << json::serialize(j) << std::endl;
}

} // namespace

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
            << ", " << fixed(deliveries_per_s, 1) << " /s (expected " << r.expected << ", late "
            << r.late << ", lost " << r.lost << ", drained in " << fixed(r.drain_s, 2) << " s)\n";
        out << "  out of order  " << r.out_of_order << "\n";
        if (r.closed_by_server != 0 || r.lost != 0) {
            out << "  closed        " << r.closed_by_server << " members by the server"
                << (r.close_codes.empty() ? "" : " (" + describe_close_codes(r.close_codes) + ")")
                << "; lost at members still open: " << r.lost_at_open
                << (r.still_arriving && r.lost_at_open != 0
                        ? " (not silent: still arriving when the wait ended, a backlog in the "
                          "server and its sockets)"
                        : " (silent)")
                << "\n";
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
    if (r.other_cpu_s && r.server_cpu_s && *r.server_cpu_s > 0) {
        out << "; --server-pid processes " << fixed(100 * *r.other_cpu_s / *r.server_cpu_s, 1)
            << " % of it";
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

    json::object j;
    j["mode"] = o.mode;
    auto field = [&j](std::string_view key, json::value value) { j[key] = std::move(value); };
    auto optional = optional_number;
    field("host", json::value(eps.front().address().to_string()));
    field("ports", ports_array(eps));
    field("path", json::value(path));
    if (o.mode == "room") {
        field("room", json::value(o.room));
        field("members", json::value(o.members));
        field("senders", json::value(o.senders));
    } else {
        field("connections", json::value(o.members));
    }
    if (o.mode == "room" || o.mode == "echo") {
        field("rate", rounded(o.rate, 1));
        field("window", o.rate > 0 ? json::value(nullptr) : json::value(o.window));
        if (o.mode == "room") {
            field("pad", json::value(o.pad));
        } else {
            field("size", json::value(o.size));
        }
    }
    field("duration_s", rounded(o.duration, 3));
    field("warmup_s", o.mode == "idle" ? json::value(0) : json::value(rounded(o.warmup, 3)));
    if (o.mode == "room" || o.mode == "echo") {
        field("connect_s", rounded(r.connect_s, 3));
        field("sent", json::value(r.sent));
        field("sent_per_s", rounded(sent_per_s, 1));
        field("delivered", json::value(r.delivered));
        field("late", json::value(r.late));
        field("deliveries_per_s", rounded(deliveries_per_s, 1));
        if (o.mode == "echo") {
            field("msgs_per_s", rounded(deliveries_per_s, 1)); // round trips per second
        }
        field("expected", json::value(r.expected));
        field("lost", json::value(r.lost));
        field("out_of_order", json::value(r.out_of_order));
        bool open = o.rate > 0;
        field("offered", open ? json::value(r.offered) : json::value(nullptr));
        field("not_sent_pushback", open ? json::value(r.not_sent_pushback) : json::value(nullptr));
        field("not_sent_closed", open ? json::value(r.not_sent_closed) : json::value(nullptr));
        field("sent_late", open ? json::value(r.sent_late) : json::value(nullptr));
        field("send_lag_max_us",
              open ? json::value(rounded(r.send_lag_max_us, 1)) : json::value(nullptr));
        field("closed_by_server", json::value(r.closed_by_server));
        field("close_codes", close_codes_object(r.close_codes));
        field("lost_at_open_members", json::value(r.lost_at_open));
        field("still_arriving", json::value(r.still_arriving));
    }
    if (o.mode == "connect") {
        field("handshakes", json::value(r.handshakes));
        field("handshakes_per_s", rounded(static_cast<double>(r.handshakes) * per_s, 1));
        field("connect_errors", json::value(r.connect_errors));
    }
    if (o.mode != "idle") {
        field("latency_p50_us", rounded(r.p50_us, 1));
        field("latency_p99_us", rounded(r.p99_us, 1));
        field("latency_p999_us", rounded(r.p999_us, 1));
        field("latency_max_us", rounded(r.max_us, 1));
        field("latency_mean_us", rounded(r.mean_us, 1));
    } else {
        field("connect_s", rounded(r.connect_s, 3));
        field("server_rss_before_kib", optional(r.server_rss_before_kib, 0));
        field("server_rss_after_kib", optional(r.server_rss_after_kib, 0));
        field("server_rss_per_conn_kib", optional(rss_per_conn, 3));
        field("server_rss_closed_kib", optional(r.server_rss_closed_kib, 0));
        field("client_rss_kib", optional(r.client_rss_kib, 0));
    }
    field("client_cpu_pct", rounded(r.client_cpu_pct, 1));
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
    field("client_cpu_s", rounded(r.client_cpu_s, 3));
    field("server_cpu_s", optional(r.server_cpu_s, 3));
    field("other_server_cpu_s", optional(r.other_cpu_s, 3));
    std::optional<double> per_cpu_s;
    if (ops && r.server_cpu_s && *r.server_cpu_s > 0) {
        per_cpu_s = *ops / *r.server_cpu_s;
    }
    field("ops_per_server_cpu_s", optional(per_cpu_s, 0));
    field("drain_s", rounded(r.drain_s, 3));
    field("disconnects", json::value(r.disconnects));
    if (o.mode == "room" || o.mode == "echo") {
        field("window_stalls", json::value(r.stalls));
        field("unsent_backlog", json::value(r.backlog_dropped));
        field("foreign", json::value(r.foreign));
    }
    add_servers(j, o, server_exit, eps.size());
    out << json::serialize(j) << std::endl;
}

} // namespace canal_bench
