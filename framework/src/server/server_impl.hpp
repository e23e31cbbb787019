// Server::Impl: what the connection sessions share with the server that accepted them (the
// application, the settings, the counters and the registry used by a graceful stop).
#pragma once

#include <canal/server/server.hpp>

#include "server/access_log.hpp"
#include "server/deadline_sweep.hpp"
#include "server/descriptor_reserve.hpp"
#include "server/listener.hpp"
#include "server/proxy_headers.hpp"
#include "server/server_metrics.hpp"
#include "server/stream.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace canal {

struct Server::Impl : std::enable_shared_from_this<Impl> {
    Impl(Application a, Settings s);

    Application app;
    Settings settings;
    // settings.channel_layers with "default" added, for every scope (null when there are none).
    std::shared_ptr<ChannelLayers const> layers;
    // settings.trusted_proxies, parsed; set when settings.proxy_headers.
    std::optional<detail::TrustedProxies> proxies;
    std::optional<net::io_context> ioc;
    std::optional<detail::Acceptor> acceptor;
    // Asio's per-socket records, made in blocks ahead of the connections
    // (make_descriptors(), from the accept loop).
    detail::DescriptorReserve descriptors;
    // The thread making the last block (joined by wait(), before the io_context goes).
    std::jthread descriptor_maker;
    // Set when the server speaks TLS (Settings::tls_cert).
    std::unique_ptr<net::ssl::context> tls;
    // Settings::access_log's writer (null: no access log).
    std::unique_ptr<detail::AccessLog> access_log;
    // The unix socket start() created (removed again by stop()).
    std::string unix_socket_created;
    std::vector<std::thread> threads;
    std::atomic<std::size_t> connections{0};
    // The most connections open at once since the last look of trim_loop().
    std::atomic<std::size_t> peak_connections{0};
    std::atomic<std::size_t> dropped{0};
    std::atomic<std::size_t> overflow_closed{0};
    std::atomic<bool> stopping{false};
    // Counters per I/O thread (the metrics listener's and metrics_text()'s source).
    detail::ServerMetrics metrics;
    // The metrics listener (Settings::metrics), when there is one.
    std::optional<detail::Acceptor> metrics_acceptor;
    unsigned short metrics_port = 0;
    unsigned short bound_port = 0;
    // Where the listener is, for the start-up line (Server::address()).
    std::string listening_on;
    // The listener is TCP (TCP_NODELAY for each connection), not a unix socket.
    bool listener_inet = true;
    // The local address of every accepted connection when the listener is bound to one
    // address (not a wildcard): no getsockname() per connection.
    std::optional<Endpoint> fixed_local;

    // Open connections per client address (Settings::max_connections_per_client).
    std::mutex per_client_mutex;
    std::unordered_map<std::string, std::size_t> per_client;
    // When a refusal at the connection limits was last logged (steady clock, ns).
    std::atomic<std::int64_t> limit_logged_ns{0};

    // Live connections, for graceful shutdown: id → closure that asks it to close.
    std::mutex registry_mutex;
    std::unordered_map<std::uint64_t, std::function<void()>> registry;
    std::uint64_t next_id = 0;

    std::uint64_t enroll(std::function<void()> shutdown);
    /** Counts a connection from `client`; false when that client is over its limit. */
    bool admit_client(std::string const& client);
    void release_client(std::string const& client);
    void withdraw(std::uint64_t id);

    struct Connection;
    awaitable<void> accept_loop();
    void make_descriptors(std::size_t open, std::size_t n);
    awaitable<void> trim_loop();
    // The open websockets' keep-alive and lifetime deadlines, looked at every period.
    detail::DeadlineSweep sweep;
    awaitable<void> sweep_loop();
    awaitable<void> serve(detail::Socket socket, std::optional<Endpoint> client);
};

namespace detail {

/** Writes a short plain-text HTTP response (`status`, `body`) on `stream` (Server: `server_name`). */
awaitable<void> refuse(Stream& stream, std::string const& server_name, int status,
                       std::string body, bool keep_alive);

struct RequestHead;

/** The access log's client: the scope's client host, or "-" (a unix socket). */
std::string access_client(Scope const& scope);
/** The access log's path: the scope's path, with `?` and the query string when there is one. */
std::string access_path(Scope const& scope);

/** The head of a request, as session_core takes it (`type`: http, websocket), no addresses. */
RequestHead request_head(std::string_view type, boost::beast::http::request_header<> const& req);
/**
 * The same, with the peer's address `client` (as accept() gave it), the local address of
 * `stream`'s socket (`fixed_local` when set) and whether it is TLS.
 */
RequestHead request_head(std::string_view type, boost::beast::http::request_header<> const& req,
                         Stream& stream, std::optional<Endpoint> const& client,
                         std::optional<Endpoint> const& fixed_local);

} // namespace detail
} // namespace canal
