// Server::Impl: what the connection sessions share with the server that accepted them (the
// application, the settings, the counters and the registry used by a graceful stop).
#pragma once

#include <canal/server/server.hpp>

#include "server/proxy_headers.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
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
    std::optional<net::ip::tcp::acceptor> acceptor;
    std::vector<std::thread> threads;
    std::atomic<std::size_t> connections{0};
    // The most connections open at once since the last look of trim_loop().
    std::atomic<std::size_t> peak_connections{0};
    std::atomic<std::size_t> dropped{0};
    std::atomic<std::size_t> overflow_closed{0};
    std::atomic<bool> stopping{false};
    unsigned short bound_port = 0;

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
    awaitable<void> trim_loop();
    awaitable<void> serve(net::ip::tcp::socket socket);
};

namespace detail {

/** Writes a short plain-text HTTP response (`status`, `body`) on `stream`. */
awaitable<void> refuse(boost::beast::tcp_stream& stream, int status, std::string body,
                       bool keep_alive);

struct RequestHead;

/** The head of a request, as session_core takes it (`type`: http, websocket), no addresses. */
RequestHead request_head(std::string_view type, boost::beast::http::request_header<> const& req);
/** The same, with the addresses of `socket`. */
RequestHead request_head(std::string_view type, boost::beast::http::request_header<> const& req,
                         net::ip::tcp::socket& socket);

} // namespace detail
} // namespace canal
