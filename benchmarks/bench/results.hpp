// canal-bench: what a run measured, as the report prints it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace canal_bench {

/** The figures of one run, for the table and the JSON line (benchmarks/README.md). */
struct Results {
    double connect_s = 0;
    std::uint64_t sent = 0;
    /** Delivered by 2 s after sending stopped (the rates count these). */
    std::uint64_t delivered = 0;
    /** Delivered after that, while frames kept arriving (an overloaded server's backlog). */
    std::uint64_t late = 0;
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
    // The part of server_cpu_s spent by the --server-pid processes (e.g. redis-server).
    std::optional<double> other_cpu_s;
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
    /** Frames were still arriving when the wait for them ended: the rest is a backlog. */
    bool still_arriving = false;
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

} // namespace canal_bench
