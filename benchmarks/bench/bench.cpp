// canal-bench: the clients of every mode (room, echo, connect, idle, burst), Beast websocket
// clients in Asio C++20 coroutines on one thread. The only Beast code of canal-bench.
#include "bench/bench.hpp"

#include "bench/histogram.hpp"
#include "bench/process.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
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
#include <string_view>
#include <thread>
#include <vector>

namespace canal_bench {

namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
using canal::awaitable;
using canal::use_nothrow;
using Ws = websocket::stream<tcp::socket>;

/**
 * Sends `Origin: http://HOST:PORT` (the server's own address) in the handshake, as a page
 * served by that server would: canal-chat's websocket routes check the origin.
 */
void set_same_site_origin(Ws& ws, std::string const& host_header, std::string cookie = {}) {
    ws.set_option(websocket::stream_base::decorator(
        [origin = "http://" + host_header, cookie = std::move(cookie)](websocket::request_type& req) {
            req.set(beast::http::field::origin, origin);
            if (!cookie.empty()) {
                req.set(beast::http::field::cookie, cookie);
            }
        }));
}

std::string form_escape(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.') {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

/**
 * Logs in on canal-chat's multichat (GET /login/ for the CSRF cookie and token, POST the form)
 * and returns the Cookie header its websockets send. Blocking: setup only, before the run.
 */
std::string multichat_login(net::io_context& ioc, tcp::endpoint const& server,
                            std::string const& host, std::string const& user,
                            std::string const& password) {
    namespace http = beast::http;
    std::map<std::string, std::string> jar;
    auto cookie_header = [&] {
        std::string out;
        for (auto const& [k, v] : jar) {
            out += (out.empty() ? "" : "; ") + k + "=" + v;
        }
        return out;
    };
    auto exchange = [&](http::verb verb, std::string body) {
        tcp::socket socket(ioc);
        socket.connect(server);
        http::request<http::string_body> req(verb, "/login/", 11);
        req.set(http::field::host, host);
        if (!jar.empty()) {
            req.set(http::field::cookie, cookie_header());
        }
        if (verb == http::verb::post) {
            req.set(http::field::content_type, "application/x-www-form-urlencoded");
            req.body() = std::move(body);
        }
        req.prepare_payload();
        http::write(socket, req);
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(socket, buffer, res);
        auto [first, last] = res.base().equal_range(http::field::set_cookie);
        for (auto it = first; it != last; ++it) {
            std::string_view v = it->value();
            v = v.substr(0, v.find(';'));
            auto const eq = v.find('=');
            if (eq != std::string_view::npos) {
                jar[std::string(v.substr(0, eq))] = std::string(v.substr(eq + 1));
            }
        }
        return res;
    };
    auto page = exchange(http::verb::get, {});
    std::string const marker = "name=\"csrfmiddlewaretoken\" value=\"";
    auto const at = page.body().find(marker);
    if (page.result_int() != 200 || at == std::string::npos) {
        throw std::runtime_error("GET /login/ answered " + std::to_string(page.result_int()) +
                                 " without a login form: is the multichat on (--users, --rooms)?");
    }
    auto const start = at + marker.size();
    auto const token = page.body().substr(start, page.body().find('"', start) - start);
    auto res = exchange(http::verb::post, "username=" + form_escape(user) + "&password=" +
                                              form_escape(password) +
                                              "&csrfmiddlewaretoken=" + form_escape(token));
    if (res.result_int() != 302) {
        throw std::runtime_error("logging in as " + user + " answered HTTP " +
                                 std::to_string(res.result_int()) + " (wrong password?)");
    }
    return cookie_header();
}

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
        multichat_ = !o.logins.empty();
        if (multichat_) {
            target_ = "/chat/stream/";
        }
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
            connect_limit().count() + warmup + o_.duration + backlog_limit + close_limit + 3)));
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
    static constexpr double backlog_limit = 20;
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

    // Also notes the --server-pid processes' own share (e.g. redis-server), which
    // record_cpu() reports apart.
    [[nodiscard]] std::optional<double> server_cpu_seconds() {
        other_cpu0_ = sum_over(o_.server_pids, process_cpu_seconds);
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
        if (multichat_) {
            // One session per user and server (sessions may be per process): the members
            // share it, as one user's tabs do.
            cookies_.resize(endpoints_.size());
            for (std::size_t server = 0; server < endpoints_.size(); ++server) {
                for (auto const& [user, password] : o_.logins) {
                    cookies_[server].push_back(multichat_login(
                        ioc_, endpoints_[server], host_headers_[server], user, password));
                }
            }
        }
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

        // Wait for the deliveries in flight, at most drain_limit seconds; past it, for as
        // long as frames keep arriving (a backlog the server is still working through, not
        // a loss), up to backlog_limit seconds.
        auto drain_start = Clock::now();
        auto const seconds = [](double s) {
            return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
        };
        auto drain_end = drain_start + seconds(drain_limit);
        auto const backlog_end = drain_start + seconds(backlog_limit);
        auto last_progress = Clock::now();
        std::uint64_t frames_before = frames_received_;
        for (;;) {
            if (stopping_ || !(senders_active_ > 0 || deliveries_outstanding())) {
                break;
            }
            auto const now = Clock::now();
            if (frames_received_ != frames_before) {
                frames_before = frames_received_;
                last_progress = now;
            }
            bool const arriving = now - last_progress < std::chrono::milliseconds(500);
            if (now >= drain_end && !delivered_in_time_) {
                delivered_in_time_ = delivered_; // the rates count these; the rest is late
            }
            if (now >= backlog_end || (now >= drain_end && !arriving)) {
                results_.still_arriving = arriving;
                break;
            }
            co_await sleep_until(now + std::chrono::milliseconds(5));
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
        auto const other_cpu0 = other_cpu0_;
        auto server_cpu1 = server_cpu_seconds();
        if (other_cpu0 && other_cpu0_) {
            results_.other_cpu_s = *other_cpu0_ - *other_cpu0;
        }
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
        r.delivered = delivered_in_time_.value_or(delivered_);
        r.late = delivered_ - r.delivered;
        r.expected = sent_ * copies();
        r.lost = static_cast<std::int64_t>(r.expected) - static_cast<std::int64_t>(delivered_);
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
        std::string cookie;
        if (multichat_) {
            auto const& jar = cookies_[m.server];
            cookie = m.sender || jar.size() == 1 ? jar.front() : jar.back();
        }
        set_same_site_origin(ws, host_headers_[m.server], std::move(cookie));
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
        if (multichat_ && !co_await join_multichat_room(m)) {
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

    /** Multichat: joins --room and waits for the reply (its history is not counted). */
    awaitable<bool> join_multichat_room(Member& m) {
        Ws& ws = *m.ws;
        std::string const join = "{\"command\":\"join\",\"room\":\"" + o_.room + "\"}";
        auto [wec, written] = co_await ws.async_write(net::buffer(join), use_nothrow);
        beast::flat_buffer buffer;
        while (!wec) {
            auto [ec, n] = co_await ws.async_read(buffer, use_nothrow);
            if (ec) {
                wec = ec;
                break;
            }
            std::string_view text(static_cast<char const*>(buffer.cdata().data()), n);
            if (text.starts_with("{\"join\"")) {
                co_return true;
            }
            if (text.starts_with("{\"error\"")) {
                fail("member " + std::to_string(m.index) + ": joining room " + o_.room +
                     " was refused: " + std::string(text));
                co_return false;
            }
            buffer.consume(buffer.size());
        }
        fail("member " + std::to_string(m.index) + ": joining room " + o_.room + ": " +
             wec.message());
        co_return false;
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
        ++frames_received_;
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
        std::string text = multichat_ ? "{\"command\":\"send\",\"room\":\"" + o_.room +
                                            "\",\"message\":\""
                                      : std::string("{\"message\": \"");
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
    std::optional<double> other_cpu0_;
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
    std::uint64_t frames_received_ = 0; // every frame, measured or not: progress while draining
    std::optional<std::uint64_t> delivered_in_time_; // delivered_ when drain_limit passed
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
    bool multichat_ = false;
    std::vector<std::vector<std::string>> cookies_; // [server][login]
    std::uint64_t connect_errors_ = 0;
    std::size_t cycle_workers_ = 0;
    Histogram latency_;
    Results results_;
};

} // namespace

LoadRun run_load(Options const& o, std::vector<tcp::endpoint> const& endpoints,
                 std::vector<ServerProcess*> const& spawned, std::vector<int> const& watched_pids) {
    LoadRun out;
    net::io_context ioc(1);
    Bench bench(ioc, o, endpoints, spawned, watched_pids);
    // Last resort if the event loop itself hangs: SIGALRM ends us, PDEATHSIG the server.
    alarm(static_cast<unsigned>(bench.time_limit().count() + 10));
    bench.start();
    ioc.run();
    alarm(0);
    out.completed = bench.completed();
    out.error = bench.error();
    out.results = bench.results();
    return out;
}

} // namespace canal_bench
