// Server: accepts connections, reads each request's head, and hands the connection to a
// websocket session (ws_session.cpp) or runs the HTTP exchange (http_session.cpp); owns the
// I/O threads and the graceful stop.
#include <canal/server/server.hpp>

#include <canal/core/errors.hpp>
#include <canal/layers/channel_layer.hpp>
#include <canal/sync/handler_pool.hpp>

#include "detail/log.hpp"
#include "server/http_session.hpp"
#include "server/listener.hpp"
#include "server/metrics_endpoint.hpp"
#include "server/server_impl.hpp"
#include "server/session_core.hpp"
#include "server/ws_session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <future>
#include <system_error>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace canal {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace detail {

awaitable<void> refuse(Stream& stream, std::string const& server_name, int status,
                       std::string body, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    if (!server_name.empty()) {
        res.set(http::field::server, server_name);
    }
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    if (status == 426) {
        res.set(http::field::sec_websocket_version, "13"); // the one version canal speaks
    }
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(5));
    co_await http::async_write(stream, res, use_nothrow);
    stream.expires_never();
}

RequestHead request_head(std::string_view type, http::request_header<> const& req) {
    RequestHead head;
    head.type = type;
    head.method = std::string_view(req.method_string().data(), req.method_string().size());
    head.target = std::string_view(req.target().data(), req.target().size());
    // The scope keeps these for the connection's life: no spare capacity.
    head.headers.reserve(static_cast<std::size_t>(std::distance(req.begin(), req.end())));
    for (auto const& field : req) {
        head.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    return head;
}

RequestHead request_head(std::string_view type, http::request_header<> const& req,
                         Stream& stream, std::optional<Endpoint> const& client,
                         std::optional<Endpoint> const& fixed_local) {
    RequestHead head = request_head(type, req);
    head.secure = stream.secure();
    head.client = client;
    head.server = fixed_local ? fixed_local : endpoint_of(stream.lowest(), false);
    return head;
}

std::string access_client(Scope const& scope) {
    return scope.client ? scope.client->host : std::string("-");
}

std::string access_path(Scope const& scope) {
    return scope.query_string.empty() ? scope.path : scope.path + "?" + scope.query_string;
}

} // namespace detail

Server::Impl::Impl(Application a, Settings s) : app(std::move(a)), settings(std::move(s)) {
    if (settings.threads == 0) {
        settings.threads = std::max(1U, std::thread::hardware_concurrency());
    }
    ioc.emplace(static_cast<int>(settings.threads));
    if (!settings.channel_layers.empty()) {
        auto all = std::make_shared<ChannelLayers>(settings.channel_layers);
        (*all)[std::string(default_layer_alias)] = settings.channel_layer;
        layers = std::move(all);
    }
    if (settings.proxy_headers) {
        proxies.emplace(settings.trusted_proxies);
    }
}

std::uint64_t Server::Impl::enroll(std::function<void()> shutdown) {
    std::lock_guard lock(registry_mutex);
    auto id = ++next_id;
    registry.emplace(id, std::move(shutdown));
    return id;
}

void Server::Impl::withdraw(std::uint64_t id) {
    std::lock_guard lock(registry_mutex);
    registry.erase(id);
}

bool Server::Impl::admit_client(std::string const& client) {
    std::lock_guard lock(per_client_mutex);
    auto& n = per_client[client];
    ++n;
    return settings.max_connections_per_client == 0 || n <= settings.max_connections_per_client;
}

void Server::Impl::release_client(std::string const& client) {
    std::lock_guard lock(per_client_mutex);
    auto it = per_client.find(client);
    if (it != per_client.end() && --it->second == 0) {
        per_client.erase(it);
    }
}

namespace {

// Closed connections (from the peak) that make trim_loop() return memory to the system.
constexpr std::size_t trim_after_closes = 1000;

// RAII count of open connections (and of the peak since trim_loop last looked).
struct ConnectionCount {
    ConnectionCount(std::atomic<std::size_t>& c, std::atomic<std::size_t>& peak) : c_(c) {
        auto const n = ++c_;
        auto p = peak.load(std::memory_order_relaxed);
        while (n > p && !peak.compare_exchange_weak(p, n, std::memory_order_relaxed)) {
        }
    }
    ~ConnectionCount() { --c_; }
    ConnectionCount(ConnectionCount const&) = delete;
    ConnectionCount& operator=(ConnectionCount const&) = delete;
    std::atomic<std::size_t>& c_;
};

} // namespace

// What a connection's graceful stop needs. serve() owns it while it reads requests, then the
// websocket session it hands the connection to; the last owner gone, it leaves the registry.
struct Server::Impl::Connection {
    Connection(Impl& server, std::string address)
        : impl(server), count(server.connections, server.peak_connections),
          client(std::move(address)) {
        auto const& s = server.settings;
        bool const over_total = s.max_connections != 0 && server.connections.load() > s.max_connections;
        bool const tracked = s.max_connections_per_client != 0;
        bool const over_client = tracked && !server.admit_client(client);
        if (!tracked) {
            client.clear();
        }
        if (over_total || over_client) {
            over_limit = over_total ? "the server's connection limit (--max-connections " +
                                          std::to_string(s.max_connections) + ")"
                                    : "the limit per client address (--max-connections-per-client " +
                                          std::to_string(s.max_connections_per_client) + ")";
        }
    }
    ~Connection() {
        impl.withdraw(id);
        if (!client.empty()) {
            impl.release_client(client);
        }
    }
    Connection(Connection const&) = delete;
    Connection& operator=(Connection const&) = delete;

    Impl& impl;
    ConnectionCount count;
    std::uint64_t id = 0;
    bool stop = false;                      // a graceful stop was asked for (strand only)
    detail::Stream* reading = nullptr;      // serve()'s stream, while it reads requests
    std::weak_ptr<detail::WsSession> session; // it keeps this record alive, not the reverse
    std::string client;     // the address counted against the per-client limit (or empty)
    std::string over_limit; // the limit this connection is over (empty: none)
};

namespace {
// A refusal at the connection limits is logged at most once a second (a flood would
// otherwise write a line per connection).
void log_limit_refusal(std::atomic<std::int64_t>& last_ns, std::string const& what) {
    auto const now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now().time_since_epoch())
                         .count();
    auto last = last_ns.load(std::memory_order_relaxed);
    if (now - last >= 1'000'000'000 && last_ns.compare_exchange_strong(last, now)) {
        detail::log_warning("refusing connections with 503: over " + what);
    }
}
} // namespace

namespace {
// A request the server answers itself, before any application (a bad or oversized head, a
// limit, a stop): counted, and access-logged with what is known of it (`head` may be null).
void note_refusal(Server::Impl& impl, std::optional<Endpoint> const& client,
                  http::request_header<> const* head, int status, std::size_t body_bytes) {
    impl.metrics.count_http(status);
    if (head != nullptr && beast::websocket::is_upgrade(*head)) {
        impl.metrics.add(detail::Count::handshake_invalid);
    }
    if (!impl.access_log) {
        return;
    }
    std::string const host = client ? client->host : std::string("-");
    AccessRecord record;
    record.time = std::chrono::system_clock::now();
    record.client = host;
    std::string method = "-";
    std::string target = "-";
    if (head != nullptr) {
        method = std::string(head->method_string());
        target = std::string(head->target());
        record.protocol = head->version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
    }
    record.method = method;
    record.path = target;
    record.status = status;
    record.bytes = static_cast<std::int64_t>(body_bytes);
    impl.access_log->write(record);
}

// Not a coroutine: g++ 12 mishandles a conditional's temporaries in a coroutine frame.
detail::Stream make_stream(detail::Socket socket, net::ssl::context* tls) {
    if (tls != nullptr) {
        return detail::Stream(std::move(socket), *tls);
    }
    return detail::Stream(std::move(socket));
}
} // namespace

awaitable<void> Server::Impl::serve(detail::Socket socket, std::optional<Endpoint> client) {
    auto self = shared_from_this();
    metrics.add(detail::Count::connections_accepted);
    boost::system::error_code ec;
    std::string address;
    if (settings.max_connections_per_client != 0) {
        // Unix-socket peers have no address: they share one count.
        address = client ? client->host : std::string(listener_inet ? "unknown" : "unix");
    }
    auto conn = std::make_shared<Connection>(*this, std::move(address));
    if (listener_inet) {
        socket.set_option(tcp::no_delay(true), ec);
    }
    detail::Stream stream = make_stream(std::move(socket), tls.get());
    beast::flat_buffer buffer;
    auto ex = stream.get_executor();

    // Graceful stop: a keep-alive HTTP connection's read is cancelled, a websocket closes
    // with 1001.
    conn->reading = &stream;
    conn->id = enroll([ex, weak = std::weak_ptr<Connection>(conn)] {
        net::post(ex, [weak] {
            auto c = weak.lock();
            if (!c) {
                return;
            }
            c->stop = true;
            if (auto session = c->session.lock()) {
                session->shutdown();
            } else if (c->reading != nullptr) {
                c->reading->cancel();
            }
        });
    });
    struct StopReading {
        Connection& c;
        ~StopReading() { c.reading = nullptr; }
    } stop_reading{*conn};

    if (stream.secure()) {
        // Plain HTTP on the TLS port, a scanner, a timeout: nothing can be answered.
        auto const failed = co_await stream.handshake(settings.handshake_timeout);
        if (failed) {
            stream.close();
            co_return;
        }
    }
    for (;;) {
        // The head first: a websocket upgrade goes to its session, an HTTP request's body is
        // read as its application asks for it.
        http::request_parser<http::empty_body> parser;
        parser.body_limit(settings.max_body_size);
        parser.header_limit(16 * 1024);
        stream.expires_after(settings.handshake_timeout);
        auto [rec, n] = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
        stream.expires_never();
        if (rec) {
            if (rec == http::error::end_of_stream || rec == net::error::operation_aborted ||
                rec == net::error::eof ||
                rec == net::error::connection_reset || conn->stop) {
                break;
            }
            if (rec == http::error::body_limit) {
                std::string body = "request body too large\n";
                note_refusal(*this, client, &parser.get(), 413, body.size());
                co_await detail::refuse(stream, settings.server_name, 413, std::move(body), false);
                break;
            }
            std::string body = "bad request: " + rec.message() + "\n";
            note_refusal(*this, client, nullptr, 400, body.size());
            co_await detail::refuse(stream, settings.server_name, 400, std::move(body), false);
            break;
        }
        if (!conn->over_limit.empty()) {
            log_limit_refusal(limit_logged_ns, conn->over_limit);
            std::string body = "server busy: over " + conn->over_limit + "\n";
            note_refusal(*this, client, &parser.get(), 503, body.size());
            co_await detail::refuse(stream, settings.server_name, 503, std::move(body), false);
            break;
        }
        if (beast::websocket::is_upgrade(parser.get())) {
            if (stopping.load()) {
                std::string body = "server shutting down\n";
                note_refusal(*this, client, &parser.get(), 503, body.size());
                co_await detail::refuse(stream, settings.server_name, 503, std::move(body), false);
                break;
            }
            // Frames a client sent in the same packet as its upgrade request.
            std::string early = beast::buffers_to_string(buffer.data());
            buffer = {};
            // The session goes on by itself: this frame (the parser, the buffer) ends here.
            conn->reading = nullptr;
            stream.release_deadline();
            auto session = std::make_shared<detail::WsSession>(self, ex);
            conn->session = session;
            session->keep(conn);
            net::co_spawn(
                ex, session->run(std::move(stream), parser.release(), std::move(early), client),
                [session](std::exception_ptr e) {
                    if (e) {
                        session->keep(nullptr);
                    }
                    detail::log_exception("websocket connection", e);
                });
            co_return;
        }
        if (!co_await detail::serve_http(self, stream, buffer, parser, client) ||
            stopping.load()) {
            break;
        }
    }
    if (stream.lowest().is_open()) {
        stream.lowest().shutdown(net::socket_base::shutdown_send, ec);
        stream.close();
    }
}

// After a storm of connections has closed, glibc keeps the memory they freed in its arenas
// (hundreds of MB after 10,000 connections): give it back to the system. The trim itself
// runs on the handler pool, not on an I/O thread.
awaitable<void> Server::Impl::sweep_loop() {
    auto shortest = std::min(settings.ping_interval, settings.ping_timeout);
    if (settings.websocket_timeout.count() > 0) {
        shortest = std::min(shortest, settings.websocket_timeout);
    }
    auto const period = detail::DeadlineSweep::period_for(shortest);
    net::steady_timer timer(co_await net::this_coro::executor);
    for (;;) {
        timer.expires_after(period);
        auto [ec] = co_await timer.async_wait(use_nothrow);
        if (ec || stopping.load()) {
            co_return;
        }
        sweep.sweep(std::chrono::steady_clock::now());
    }
}

awaitable<void> Server::Impl::trim_loop() {
    net::steady_timer timer(co_await net::this_coro::executor);
    for (;;) {
        timer.expires_after(std::chrono::seconds(5));
        auto [ec] = co_await timer.async_wait(use_nothrow);
        if (ec || stopping.load()) {
            co_return;
        }
        auto const now = connections.load();
        auto const peak = peak_connections.exchange(now);
        if (peak >= now + trim_after_closes && now < peak / 2) {
#if defined(__GLIBC__)
            detail::post_to_handler_pool(ioc->get_executor(), [] { ::malloc_trim(0); });
#endif
        }
    }
}

void Server::Impl::make_descriptors(std::size_t open, std::size_t n) {
    // The previous block's thread has reported (wanted() said so): joining it is immediate.
    if (descriptor_maker.joinable()) {
        descriptor_maker.join();
    }
    try {
        descriptor_maker = std::jthread([this, open, n] {
            descriptors.made(open, n, detail::DescriptorReserve::make(*ioc, n));
        });
    } catch (std::system_error const&) {
        descriptors.made(open, n, 0); // no thread to spare: tried again later
    }
}

awaitable<void> Server::Impl::accept_loop() {
    for (;;) {
        // Each connection runs on its own strand. With one I/O thread every handler is already
        // serialized: the strand would only add a lock and an indirection to every step of
        // every delivery (measured: docs/benchmarks.md).
        net::any_io_executor conn_ex =
            settings.threads == 1 ? net::any_io_executor(ioc->get_executor())
                                  : net::any_io_executor(net::make_strand(ioc->get_executor()));
        // The peer's address comes with the accept (no getpeername() per connection).
        net::generic::stream_protocol::endpoint peer;
        auto [ec, socket] = co_await acceptor->async_accept(conn_ex, peer, use_nothrow);
        if (ec) {
            if (ec == net::error::operation_aborted || stopping.load()) {
                co_return;
            }
            // Out of descriptors and the like: report, pause, go on.
            detail::log_error("accept: " + ec.message());
            net::steady_timer pause(acceptor->get_executor(), std::chrono::milliseconds(50));
            co_await pause.async_wait(use_nothrow);
            continue;
        }
        // Asio's per-socket records for the connections to come, a block at a time, on a
        // thread of their own (milliseconds of system calls, kept off the I/O threads).
        auto const open = connections.load() + 1;
        if (auto const n = descriptors.wanted(open)) {
            make_descriptors(open, n);
        }
        auto ex = socket.get_executor();
        net::co_spawn(ex, serve(std::move(socket), detail::endpoint_from(peer)),
                      [](std::exception_ptr e) { detail::log_exception("connection", e); });
    }
}

Server::Server(Application app, Settings settings)
    : impl_(std::make_shared<Impl>(std::move(app), std::move(settings))) {}

Server::~Server() {
    if (!impl_->threads.empty()) {
        stop();
        wait();
    }
}

void Server::start() {
    auto& s = impl_->settings;
    s.validate(); // settings made in code get the same checks as flags (InvalidSetting)
    // The server's own handler pool (0: the process's size, set_handler_threads()).
    detail::set_pool_threads(*impl_->ioc, s.handler_threads);
    if (!s.tls_cert.empty() || !s.tls_key.empty()) {
        impl_->tls = detail::make_tls_context(s.tls_cert, s.tls_key);
    }
    if (!s.access_log.empty() || s.access_log_sink) {
        impl_->access_log =
            std::make_unique<detail::AccessLog>(s.access_log, s.log_format, s.access_log_sink);
    }
    // The metrics listener is bound first: a failure there leaves no unix socket file behind.
    if (!s.metrics.empty()) {
        auto [host, port] = detail::parse_metrics_address(s.metrics);
        auto& macc = impl_->metrics_acceptor.emplace(net::make_strand(impl_->ioc->get_executor()));
        impl_->metrics_port = detail::listen_tcp(host, port, "--metrics", macc).port;
    }
    auto& acc = impl_->acceptor.emplace(net::make_strand(impl_->ioc->get_executor()));
    auto listening = detail::open_listener(s, acc);
    impl_->bound_port = listening.port;
    impl_->listener_inet = listening.inet;
    if (listening.inet) {
        boost::system::error_code lec;
        auto const bound = acc.local_endpoint(lec);
        auto local = lec ? std::nullopt : detail::endpoint_from(bound);
        if (local) {
            auto const address = net::ip::make_address(local->host, lec);
            if (!lec && !address.is_unspecified()) {
                impl_->fixed_local = std::move(local); // 127.0.0.1, not 0.0.0.0 or ::
            }
        }
    }
    impl_->unix_socket_created = std::move(listening.created);
    impl_->listening_on = listening.description;
    if (impl_->tls && listening.description.rfind("http://", 0) == 0) {
        impl_->listening_on.insert(4, "s"); // https://
    }
    // Nothing throws from here: the loops (which hold the Impl) start.
    if (impl_->metrics_acceptor) {
        net::co_spawn(impl_->metrics_acceptor->get_executor(), detail::metrics_accept_loop(impl_),
                      [](std::exception_ptr e) { detail::log_exception("metrics listener", e); });
    }
    net::co_spawn(acc.get_executor(), impl_->accept_loop(),
                  [](std::exception_ptr e) { detail::log_exception("accept loop", e); });
    net::co_spawn(acc.get_executor(), impl_->trim_loop(),
                  [](std::exception_ptr e) { detail::log_exception("memory trim loop", e); });
    net::co_spawn(acc.get_executor(), impl_->sweep_loop(),
                  [](std::exception_ptr e) { detail::log_exception("deadline sweep", e); });
    for (unsigned i = 0; i < s.threads; ++i) {
        impl_->threads.emplace_back([impl = impl_] {
            detail::IoThreadScope io_thread; // async_to_sync() here is an error, not a hang
            impl->metrics.attach_thread();
            impl->ioc->run();
        });
    }
}

unsigned short Server::port() const noexcept { return impl_->bound_port; }

std::string Server::address() const { return impl_->listening_on; }

void Server::stop() {
    if (impl_->stopping.exchange(true)) {
        return;
    }
    auto impl = impl_;
    if (impl->acceptor && !impl->threads.empty()) {
        // Close the listening socket on its strand, and wait for that: stopping the
        // io_context first would leave the port open.
        auto closed = std::make_shared<std::promise<void>>();
        auto done = closed->get_future();
        net::post(impl->acceptor->get_executor(), [impl, closed] {
            boost::system::error_code ec;
            impl->acceptor->close(ec);
            if (impl->metrics_acceptor) {
                net::post(impl->metrics_acceptor->get_executor(), [impl] {
                    boost::system::error_code mec;
                    impl->metrics_acceptor->close(mec);
                });
            }
            detail::remove_unix_socket(impl->unix_socket_created);
            closed->set_value();
        });
        done.wait_for(std::chrono::seconds(2));
    }
    {
        std::lock_guard lock(impl->registry_mutex);
        for (auto& [id, shutdown] : impl->registry) {
            shutdown();
        }
    }
    auto deadline = std::chrono::steady_clock::now() + impl->settings.shutdown_timeout;
    while (impl->connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    impl->ioc->stop();
}

void Server::wait() {
    for (auto& t : impl_->threads) {
        if (t.joinable()) {
            t.join();
        }
    }
    impl_->threads.clear();
    if (impl_->access_log) {
        impl_->access_log->close(); // what the connections logged is written
    }
    // Handlers still queued (a cancelled timer's, an abandoned application's) hold the
    // Impl: destroy them with the io_context so that nothing outlives the Server.
    if (impl_->stopping.load() && impl_->ioc) { // a second wait() has nothing left to do
        // A sync_to_async task may still be inside its post back to this io_context
        // (stop() does not wait for outstanding work): let it get out first.
        if (!detail::wait_for_pool_posts(*impl_->ioc, impl_->settings.shutdown_timeout)) {
            detail::log_warning("server stopped while sync_to_async work is still running; "
                                "it will post to a destroyed io_context");
        }
        // So may the channel layer's own thread (the Redis layer's), with a receive's end.
        auto const& layer = impl_->settings.channel_layer;
        if (layer && !layer->settle(impl_->settings.shutdown_timeout)) {
            detail::log_warning("server stopped while the channel layer is still busy");
        }
        if (impl_->descriptor_maker.joinable()) {
            impl_->descriptor_maker.join(); // it uses the io_context
        }
        impl_->acceptor.reset();
        impl_->metrics_acceptor.reset();
        impl_->ioc.reset();
    }
}

std::size_t Server::connection_count() const noexcept { return impl_->connections.load(); }

std::size_t Server::dropped_messages() const noexcept { return impl_->dropped.load(); }

std::size_t Server::overflow_closes() const noexcept { return impl_->overflow_closed.load(); }

unsigned short Server::metrics_port() const noexcept { return impl_->metrics_port; }

std::string Server::metrics_text() const { return detail::metrics_text(*impl_); }

std::string Server::health_problem() const { return detail::health_problem(*impl_); }

Settings const& Server::settings() const noexcept { return impl_->settings; }

} // namespace canal
