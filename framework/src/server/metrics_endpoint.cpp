// The metrics listener: one short request per connection, answered from the counters.
#include "server/metrics_endpoint.hpp"

#include <canal/layers/channel_layer.hpp>
#include <canal/sync/handler_pool.hpp>

#include "detail/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <boost/asio/steady_timer.hpp>

#include <array>
#include <charconv>
#include <cstdio>

namespace canal::detail {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Prometheus' text format, one family at a time.
class Exposition {
public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
        head(name, labels);
        out_ += std::to_string(value);
        out_ += '\n';
    }
    void sample(std::string_view name, std::string_view labels, double value) {
        head(name, labels);
        std::array<char, 32> text{};
        std::snprintf(text.data(), text.size(), "%.9g", value);
        out_ += text.data();
        out_ += '\n';
    }
    std::string take() { return std::move(out_); }

private:
    void head(std::string_view name, std::string_view labels) {
        out_ += name;
        if (!labels.empty()) {
            out_ += '{';
            out_ += labels;
            out_ += '}';
        }
        out_ += ' ';
    }
    std::string out_;
};

// A label value escaped as the format wants (backslash, quote, newline).
std::string label_value(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string bound_text(double le) {
    std::array<char, 32> text{};
    std::snprintf(text.data(), text.size(), "%g", le);
    return text.data();
}

// Every layer the server's scopes can reach, by alias.
std::vector<std::pair<std::string, std::shared_ptr<ChannelLayer>>> layers_of(Server::Impl& server) {
    std::vector<std::pair<std::string, std::shared_ptr<ChannelLayer>>> out;
    if (server.layers) {
        for (auto const& [alias, layer] : *server.layers) {
            if (layer) {
                out.emplace_back(alias, layer);
            }
        }
    } else if (server.settings.channel_layer) {
        out.emplace_back(std::string(default_layer_alias), server.settings.channel_layer);
    }
    return out;
}

struct Answer {
    int status;
    std::string content_type;
    std::string body;
};

Answer answer_for(Server::Impl& server, http::request<http::string_body> const& req) {
    std::string const plain = "text/plain; charset=utf-8";
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        return {405, plain, "only GET\n"};
    }
    auto const target = std::string_view(req.target().data(), req.target().size());
    auto const path = target.substr(0, target.find('?'));
    if (path == "/metrics") {
        return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_text(server)};
    }
    if (path == "/health") {
        auto problem = health_problem(server);
        if (problem.empty()) {
            return {200, plain, "ok\n"};
        }
        return {503, plain, "unhealthy: " + problem + "\n"};
    }
    return {404, plain, "not found: the metrics listener serves /metrics and /health\n"};
}

http::response<http::string_body> response_for(Answer answer, bool head) {
    http::response<http::string_body> res{static_cast<http::status>(answer.status), 11};
    res.set(http::field::content_type, answer.content_type);
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(false);
    res.body() = std::move(answer.body);
    res.prepare_payload();
    if (head) {
        res.body().clear(); // the length stays
    }
    return res;
}

awaitable<void> serve_metrics(std::shared_ptr<Server::Impl> server, Socket socket) {
    Stream stream(std::move(socket));
    beast::flat_buffer buffer(8 * 1024);
    http::request_parser<http::string_body> parser;
    parser.header_limit(8 * 1024);
    parser.body_limit(8 * 1024);
    stream.expires_after(std::chrono::seconds(5));
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (!ec) {
        auto const& req = parser.get();
        auto res = response_for(answer_for(*server, req), req.method() == http::verb::head);
        co_await http::async_write(stream, res, use_nothrow); // a client gone: nothing to do
    }
    stream.expires_never();
    stream.close();
}

} // namespace

std::pair<std::string, unsigned short> parse_metrics_address(std::string const& text) {
    auto const colon = text.rfind(':');
    auto bad = [&] {
        return InvalidSetting("--metrics must be HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:9100, "
                              "not '" + text + "'");
    };
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
        throw bad();
    }
    std::string host = text.substr(0, colon);
    if (host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string::npos) {
        throw bad(); // an IPv6 address needs its brackets
    }
    unsigned port = 0;
    auto const* first = text.data() + colon + 1;
    auto const* last = text.data() + text.size();
    auto [ptr, err] = std::from_chars(first, last, port);
    if (err != std::errc() || ptr != last || port > 65535) {
        throw bad();
    }
    return {host, static_cast<unsigned short>(port)};
}

std::string health_problem(Server::Impl& server) {
    std::string problem;
    for (auto const& [alias, layer] : layers_of(server)) {
        auto const stats = layer->layer_stats();
        if (!stats.reachable) {
            problem += (problem.empty() ? "" : "; ") + std::string("channel layer '") + alias +
                       "' cannot reach " + stats.unreachable;
        }
    }
    if (server.stopping.load()) {
        problem += (problem.empty() ? "" : "; ") + std::string("the server is stopping");
    }
    return problem;
}

std::string metrics_text(Server::Impl& server) {
    auto& m = server.metrics;
    Exposition e;
    e.family("canal_build_info", "gauge", "canal's version (the value is always 1).");
    e.sample("canal_build_info", "version=\"" CANAL_VERSION_TEXT "\"", std::uint64_t{1});
    e.family("canal_connections_open", "gauge", "Connections open now (HTTP and websocket).");
    e.sample("canal_connections_open", "", static_cast<std::uint64_t>(server.connections.load()));
    e.family("canal_connections_accepted_total", "counter", "Connections accepted.");
    e.sample("canal_connections_accepted_total", "", m.total(Count::connections_accepted));
    e.family("canal_http_responses_total", "counter", "HTTP responses, by status class.");
    for (int cls = 1; cls <= 5; ++cls) {
        auto const slot = static_cast<std::size_t>(Count::http_1xx) + static_cast<std::size_t>(cls - 1);
        e.sample("canal_http_responses_total", "code=\"" + std::to_string(cls) + "xx\"", m.total(slot));
    }
    e.family("canal_websocket_handshakes_total", "counter",
             "Websocket handshakes, by outcome: accepted; refused (by the application, 403, or "
             "its failure); invalid (not a valid upgrade, over a limit, stopping); timeout.");
    e.sample("canal_websocket_handshakes_total", "outcome=\"accepted\"", m.total(Count::handshake_accepted));
    e.sample("canal_websocket_handshakes_total", "outcome=\"refused\"", m.total(Count::handshake_refused));
    e.sample("canal_websocket_handshakes_total", "outcome=\"invalid\"", m.total(Count::handshake_invalid));
    e.sample("canal_websocket_handshakes_total", "outcome=\"timeout\"", m.total(Count::handshake_timeout));
    e.family("canal_websockets_open", "gauge", "Websockets open now.");
    e.sample("canal_websockets_open", "", m.total(Count::websockets_open));
    e.family("canal_websocket_messages_received_total", "counter", "Websocket messages received from clients.");
    e.sample("canal_websocket_messages_received_total", "", m.total(Count::messages_in));
    e.family("canal_websocket_received_bytes_total", "counter", "Payload bytes of those messages.");
    e.sample("canal_websocket_received_bytes_total", "", m.total(Count::bytes_in));
    e.family("canal_websocket_messages_sent_total", "counter",
             "Websocket messages queued for clients (every delivery to a client).");
    e.sample("canal_websocket_messages_sent_total", "", m.total(Count::messages_out));
    e.family("canal_websocket_sent_bytes_total", "counter", "Payload bytes of those messages.");
    e.sample("canal_websocket_sent_bytes_total", "", m.total(Count::bytes_out));
    e.family("canal_websocket_closes_total", "counter",
             "Websockets ended, by close code (1006: no close frame; 3xxx, 4xxx: applications').");
    for (std::size_t i = 0; i < close_buckets; ++i) {
        e.sample("canal_websocket_closes_total", "code=\"" + close_bucket_label(i) + "\"",
                 m.total(static_cast<std::size_t>(Count::close_first) + i));
    }
    e.family("canal_outbound_queued_bytes", "gauge",
             "Bytes queued for clients that their sockets have not taken yet.");
    e.sample("canal_outbound_queued_bytes", "", m.total(Count::outbound_bytes));
    e.family("canal_outbound_dropped_messages_total", "counter",
             "Messages dropped for clients reading too slowly (--overflow drop).");
    e.sample("canal_outbound_dropped_messages_total", "", static_cast<std::uint64_t>(server.dropped.load()));
    e.family("canal_outbound_overflow_closes_total", "counter",
             "Websockets closed with 1008 for reading too slowly (--overflow close).");
    e.sample("canal_outbound_overflow_closes_total", "", static_cast<std::uint64_t>(server.overflow_closed.load()));
    if (server.access_log) {
        e.family("canal_access_log_dropped_lines_total", "counter",
                 "Access log lines dropped because the log could not keep up.");
        e.sample("canal_access_log_dropped_lines_total", "", server.access_log->dropped());
    }
    auto const pool = server.ioc ? handler_pool_stats(*server.ioc) : HandlerPoolStats{};
    e.family("canal_handler_pool_threads", "gauge", "Threads of the handler pool (sync consumers, sync_to_async).");
    e.sample("canal_handler_pool_threads", "", std::uint64_t{pool.threads});
    e.family("canal_handler_pool_busy_threads", "gauge", "Those running a task now.");
    e.sample("canal_handler_pool_busy_threads", "", std::uint64_t{pool.busy});
    e.family("canal_handler_pool_queued_tasks", "gauge", "Tasks waiting for a handler thread.");
    e.sample("canal_handler_pool_queued_tasks", "", static_cast<std::uint64_t>(pool.queued));

    auto const layers = layers_of(server);
    if (!layers.empty()) {
        std::vector<std::pair<std::string, LayerStats>> stats;
        std::vector<std::size_t> dropped;
        for (auto const& [alias, layer] : layers) {
            stats.emplace_back("layer=\"" + label_value(alias) + "\"", layer->layer_stats());
            dropped.push_back(layer->dropped_count());
        }
        e.family("canal_layer_up", "gauge", "1 while the channel layer reaches its servers.");
        for (auto const& [label, st] : stats) {
            e.sample("canal_layer_up", label, std::uint64_t{st.reachable ? 1U : 0U});
        }
        e.family("canal_layer_round_trips_total", "counter", "Requests to the layer's servers (Redis).");
        for (auto const& [label, st] : stats) {
            e.sample("canal_layer_round_trips_total", label, st.round_trips);
        }
        e.family("canal_layer_errors_total", "counter",
                 "Requests that failed for want of a server (not connected, lost, timed out).");
        for (auto const& [label, st] : stats) {
            e.sample("canal_layer_errors_total", label, st.errors);
        }
        e.family("canal_layer_reconnects_total", "counter", "Connections to a server re-established after a loss.");
        for (auto const& [label, st] : stats) {
            e.sample("canal_layer_reconnects_total", label, st.reconnects);
        }
        e.family("canal_layer_dropped_messages_total", "counter",
                 "Messages a group member missed because its channel stayed full (each one told).");
        for (std::size_t i = 0; i < stats.size(); ++i) {
            e.sample("canal_layer_dropped_messages_total", stats[i].first,
                     static_cast<std::uint64_t>(dropped[i]));
        }
        e.family("canal_layer_group_send_duration_seconds", "histogram",
                 "How long group_send() took: the fan-out to every member's channel (in memory) "
                 "or the round trip to Redis.");
        for (auto const& [label, st] : stats) {
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i < st.group_send_histogram.size(); ++i) {
                cumulative += st.group_send_histogram[i];
                auto const le = i < group_send_buckets.size() ? bound_text(group_send_buckets[i])
                                                               : std::string("+Inf");
                e.sample("canal_layer_group_send_duration_seconds_bucket",
                         label + ",le=\"" + le + "\"", cumulative);
            }
            e.sample("canal_layer_group_send_duration_seconds_sum", label, st.group_send_seconds);
            e.sample("canal_layer_group_send_duration_seconds_count", label, cumulative);
        }
    }
    return e.take();
}

awaitable<void> metrics_accept_loop(std::shared_ptr<Server::Impl> server) {
    for (;;) {
        auto [ec, socket] = co_await server->metrics_acceptor->async_accept(use_nothrow);
        if (ec) {
            if (ec == net::error::operation_aborted || server->stopping.load()) {
                co_return;
            }
            log_error("metrics listener: accept: " + ec.message());
            net::steady_timer pause(server->metrics_acceptor->get_executor(),
                                    std::chrono::milliseconds(50));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        auto ex = socket.get_executor();
        net::co_spawn(ex, serve_metrics(server, std::move(socket)),
                      [](std::exception_ptr e) { log_exception("metrics request", e); });
    }
}

} // namespace canal::detail
