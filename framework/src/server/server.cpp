// Server: accepts connections, reads HTTP requests, runs applications, and owns each
// websocket's reader, writer and bounded outbound queue. The only file that names Beast.
#include <canal/server/server.hpp>

#include <canal/core/errors.hpp>
#include <canal/layers/make_channel_layer.hpp>
#include <canal/sync/handler_pool.hpp>

#include "detail/log.hpp"
#include "detail/notifier.hpp"
#include "server/ws_transport.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>

#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace canal {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using namespace net::experimental::awaitable_operators;

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

Endpoint to_endpoint(tcp::endpoint const& ep) {
    return Endpoint{ep.address().to_string(), ep.port()};
}

// Builds the scope of a request; returns false when the target is not a valid origin-form.
bool fill_scope(Scope& scope, http::request<http::string_body> const& req, tcp::socket& sock) {
    auto target = req.target();
    auto parsed = boost::urls::parse_origin_form(std::string_view(target.data(), target.size()));
    if (!parsed) {
        return false;
    }
    scope.path = std::string(parsed->path());
    if (scope.path.empty()) {
        scope.path = "/";
    }
    scope.raw_path = std::string(parsed->encoded_path());
    scope.query_string = std::string(parsed->encoded_query());
    scope.method = std::string(req.method_string());
    for (auto const& field : req) {
        scope.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
    }
    boost::system::error_code ec;
    auto remote = sock.remote_endpoint(ec);
    if (!ec) {
        scope.client = to_endpoint(remote);
    }
    auto local = sock.local_endpoint(ec);
    if (!ec) {
        scope.server = to_endpoint(local);
    }
    return true;
}

} // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
    Impl(Application a, Settings s) : app(std::move(a)), settings(std::move(s)) {
        if (settings.threads == 0) {
            settings.threads = std::max(1U, std::thread::hardware_concurrency());
        }
        ioc.emplace(static_cast<int>(settings.threads));
    }

    Application app;
    Settings settings;
    std::optional<net::io_context> ioc;
    std::optional<tcp::acceptor> acceptor;
    std::vector<std::thread> threads;
    std::atomic<std::size_t> connections{0};
    std::atomic<std::size_t> dropped{0};
    std::atomic<std::size_t> overflow_closed{0};
    std::atomic<bool> stopping{false};
    unsigned short bound_port = 0;

    // Live connections, for graceful shutdown: id → closure that asks it to close.
    std::mutex registry_mutex;
    std::unordered_map<std::uint64_t, std::function<void()>> registry;
    std::uint64_t next_id = 0;

    std::uint64_t enroll(std::function<void()> shutdown) {
        std::lock_guard lock(registry_mutex);
        auto id = ++next_id;
        registry.emplace(id, std::move(shutdown));
        return id;
    }
    void withdraw(std::uint64_t id) {
        std::lock_guard lock(registry_mutex);
        registry.erase(id);
    }

    awaitable<void> accept_loop();
    awaitable<void> serve(tcp::socket socket);
};

namespace {

// RAII count of open connections.
struct ConnectionCount {
    explicit ConnectionCount(std::atomic<std::size_t>& c) : c_(c) { ++c_; }
    ~ConnectionCount() { --c_; }
    ConnectionCount(ConnectionCount const&) = delete;
    ConnectionCount& operator=(ConnectionCount const&) = delete;
    std::atomic<std::size_t>& c_;
};

// Writes a short plain-text HTTP response and closes.
awaitable<void> refuse(beast::tcp_stream& stream, int status, std::string body, bool keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::server, "canal");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = std::move(body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(5));
    co_await http::async_write(stream, res, use_nothrow);
}

// ---------------------------------------------------------------------------------------
// A websocket connection: the application's inbox, the outbound queue and the one writer.
// Everything here runs on the connection's strand.
class WsSession : public std::enable_shared_from_this<WsSession> {
public:
    enum class Handshake { pending, accepted, refused, app_ended };

    /** Client events read but not yet taken by the application; the reader pauses beyond. */
    static constexpr std::size_t inbox_capacity = 64;

    WsSession(std::shared_ptr<Server::Impl> server, net::any_io_executor ex)
        : server_(std::move(server)), ex_(ex), inbox_ready_(ex), state_changed_(ex),
          handshake_done_(ex), app_done_(ex) {}

    // The application's `receive`.
    awaitable<Event> next_event() {
        while (inbox_.empty()) {
            co_await inbox_ready_.wait();
        }
        Event ev = std::move(inbox_.front());
        inbox_.pop_front();
        reader_space_.notify_one();
        co_return ev;
    }

    // The application's `send`.
    awaitable<void> on_send(Event ev) {
        if (auto* acc = std::get_if<WebsocketAccept>(&ev)) {
            if (handshake_ == Handshake::pending) {
                handshake_ = Handshake::accepted;
                subprotocol_ = std::move(acc->subprotocol);
                handshake_done_.notify();
            }
        } else if (auto* snd = std::get_if<WebsocketSend>(&ev)) {
            if (handshake_ != Handshake::accepted) {
                throw Error("websocket send before accept");
            }
            enqueue(std::move(*snd));
        } else if (auto* cl = std::get_if<WebsocketClose>(&ev)) {
            if (handshake_ == Handshake::pending) {
                handshake_ = Handshake::refused;
                handshake_done_.notify();
            } else {
                request_close(cl->code, std::move(cl->reason));
            }
        } else {
            throw Error("unexpected event sent by a websocket application");
        }
        co_return;
    }

    void push_event(Event ev) {
        inbox_.push_back(std::move(ev));
        inbox_ready_.notify();
    }

    void enqueue(WebsocketSend snd) {
        if (closing_ || ended_) {
            return; // a closing connection takes nothing more; the app learns from disconnect
        }
        auto const& settings = server_->settings;
        std::size_t const frames = transport_ ? transport_->queued_frames() : early_.size();
        std::size_t const bytes = transport_ ? transport_->queued_bytes() : early_bytes_;
        if (frames >= settings.outbound_queue_limit || bytes >= settings.outbound_queue_bytes) {
            if (settings.overflow_policy == OverflowPolicy::drop) {
                ++server_->dropped;
                return;
            }
            // The socket took nothing for a whole queue: the client reads too slowly (a server
            // that is merely busy writes everything queued at each turn of the writer).
            ++server_->overflow_closed;
            detail::log_warning("closing " + describe_ +
                                " with 1008: client too slow, outbound queue full (" +
                                std::to_string(frames) + " messages, " + std::to_string(bytes) +
                                " bytes)");
            if (transport_) {
                transport_->discard_pending();
            }
            early_.clear();
            request_close(1008, "outbound queue full: client too slow");
            return;
        }
        if (transport_) {
            transport_->append_frame(snd.binary, *snd.data);
        } else {
            // Accepted, but the 101 is not written yet: sent right after it, in order.
            early_bytes_ += snd.data->size();
            early_.push_back(std::move(snd));
            outbound_->bytes.store(early_bytes_, std::memory_order_relaxed);
            outbound_->frames.store(early_.size(), std::memory_order_relaxed);
        }
    }

    void request_close(int code, std::string reason) {
        if (closing_ || ended_) {
            return;
        }
        closing_ = true;
        close_code_ = code;
        close_reason_ = std::move(reason);
        state_changed_.notify();
    }

    awaitable<void> run(beast::tcp_stream stream, http::request<http::string_body> req,
                        beast::flat_buffer /*unused: clients wait for 101 before sending*/);

    void shutdown() {
        if (!open_) {
            // Still in the handshake: the pending wait ends by timeout or answer.
            shutdown_requested_ = true;
            return;
        }
        request_close(1001, "server shutting down");
    }

    std::string describe_;

private:
    using Ws = websocket::stream<detail::WsTransport>;
    awaitable<void> reader(Ws& ws);
    awaitable<void> closer(Ws& ws);

    std::shared_ptr<Server::Impl> server_;
    net::any_io_executor ex_;
    std::deque<Event> inbox_;
    detail::Notifier inbox_ready_;
    struct SpaceSignal {
        detail::Notifier* n = nullptr;
        void notify_one() {
            if (n != nullptr) {
                n->notify();
            }
        }
    } reader_space_;
    // Frames sent after accept() but before the handshake response was written.
    std::deque<WebsocketSend> early_;
    std::size_t early_bytes_ = 0;
    // What the application can read of the queue (buffered_amount()).
    std::shared_ptr<OutboundQueue> outbound_ = std::make_shared<OutboundQueue>();
    // The socket's write side, once the handshake is written (frames go straight to it).
    detail::WsTransport* transport_ = nullptr;
    detail::Notifier state_changed_;
    detail::Notifier handshake_done_;
    detail::Notifier app_done_;
    Handshake handshake_ = Handshake::pending;
    std::string subprotocol_;
    std::exception_ptr app_error_;
    bool app_finished_ = false;
    bool open_ = false;  // the handshake is written and the connection is not over
    bool ended_ = false; // the connection is over (read side ended, or it never opened)
    bool closing_ = false;
    bool shutdown_requested_ = false;
    bool disconnect_sent_ = false;
    int close_code_ = 1000;
    std::string close_reason_;
};

awaitable<void> WsSession::reader(Ws& ws) {
    detail::Notifier space(ex_);
    reader_space_.n = &space;
    struct Reset {
        SpaceSignal& s;
        ~Reset() { s.n = nullptr; }
    } reset{reader_space_};
    int code = 1006;
    for (;;) {
        beast::flat_buffer buf;
        auto [ec, n] = co_await ws.async_read(buf, use_nothrow);
        if (ec) {
            if (ec == websocket::error::closed) {
                code = ws.reason().code;
                if (code == websocket::close_code::none) {
                    code = 1005;
                }
            } else if (ec == websocket::error::message_too_big) {
                code = 1009;
            } else if (ec == websocket::error::bad_frame_payload) {
                code = 1007;
            } else if (closing_) {
                code = close_code_;
            }
            break;
        }
        push_event(WebsocketReceive{beast::buffers_to_string(buf.data()), !ws.got_text()});
        // Bounded inbox: stop reading (TCP pushes back on the client) while it is full.
        while (inbox_.size() >= inbox_capacity && !app_finished_) {
            co_await space.wait();
        }
    }
    open_ = false;
    ended_ = true;
    if (!disconnect_sent_) {
        disconnect_sent_ = true;
        push_event(WebsocketDisconnect{code});
    }
    state_changed_.notify();
}

awaitable<void> WsSession::closer(Ws& ws) {
    // Frames go to the transport as they are sent (enqueue); this coroutine only sends the
    // close frame, after everything queued before it.
    while (!closing_ && open_) {
        co_await state_changed_.wait();
    }
    if (!open_) {
        co_return;
    }
    // A peer that never reads cannot take the close frame: give it a deadline.
    net::steady_timer deadline(ex_, server_->settings.handshake_timeout);
    deadline.async_wait([self = shared_from_this(), &ws](boost::system::error_code ec) {
        if (!ec && self->open_) {
            beast::get_lowest_layer(ws).close(ec);
        }
    });
    websocket::close_reason reason(static_cast<websocket::close_code>(close_code_), close_reason_);
    auto [ec] = co_await ws.async_close(reason, use_nothrow);
    if (ec) {
        beast::get_lowest_layer(ws).close(ec);
    }
    while (open_) {
        co_await state_changed_.wait();
    }
    deadline.cancel();
}

awaitable<void> WsSession::run(beast::tcp_stream stream, http::request<http::string_body> req,
                               beast::flat_buffer /*buffer*/) {
    auto& settings = server_->settings;
    Scope scope;
    scope.type = "websocket";
    scope.scheme = "ws";
    if (!fill_scope(scope, req, stream.socket())) {
        co_await refuse(stream, 400, "invalid request target\n", false);
        co_return;
    }
    scope.method.clear();
    if (auto const* protos = scope.header("sec-websocket-protocol")) {
        std::string_view rest = *protos;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            auto item = trim(rest.substr(0, comma));
            if (!item.empty()) {
                scope.subprotocols.emplace_back(item);
            }
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        }
    }
    scope.channel_layer = settings.channel_layer;
    scope.outbound = outbound_;
    describe_ = "websocket " + scope.path;
    auto const path = scope.path;

    auto self = shared_from_this();
    push_event(WebsocketConnect{});
    Receive receive = [self]() { return self->next_event(); };
    Send send = [self](Event ev) { return self->on_send(std::move(ev)); };
    net::co_spawn(ex_, server_->app(std::move(scope), std::move(receive), std::move(send)),
                  [self](std::exception_ptr e) {
                      self->app_finished_ = true;
                      self->app_error_ = e;
                      if (self->handshake_ == Handshake::pending) {
                          self->handshake_ = Handshake::app_ended;
                          self->handshake_done_.notify();
                      } else if (e) {
                          detail::log_exception(self->describe_, e);
                          self->request_close(1011, "internal error");
                      } else {
                          self->request_close(1000, {});
                      }
                      self->app_done_.notify();
                      self->reader_space_.notify_one();
                  });

    // Wait for accept / close / the application's end, within the handshake timeout.
    {
        net::steady_timer timeout(ex_, settings.handshake_timeout);
        timeout.async_wait([self](boost::system::error_code ec) {
            if (!ec) {
                self->handshake_done_.notify();
            }
        });
        bool timed_out = false;
        while (handshake_ == Handshake::pending) {
            if (timeout.expiry() <= net::steady_timer::clock_type::now()) {
                timed_out = true;
                break;
            }
            co_await handshake_done_.wait();
        }
        timeout.cancel();
        if (timed_out) {
            detail::log_warning(describe_ + ": handshake timed out waiting for the application");
            co_await refuse(stream, 503, "handshake timeout\n", false);
        }
    }

    if (handshake_ == Handshake::refused) {
        if (settings.access_log) {
            detail::log_info("WSREJECT " + path + " 403");
        }
        co_await refuse(stream, 403, "websocket connection refused\n", false);
    } else if (handshake_ == Handshake::app_ended) {
        int status = 500;
        std::string body = "internal server error\n";
        try {
            if (app_error_) {
                std::rethrow_exception(app_error_);
            }
            status = 403;
            body = "websocket connection refused\n";
        } catch (RouteNotFound const& e) {
            status = 404;
            body = std::string(e.what()) + "\n";
            detail::log_warning("websocket " + path + ": 404: " + e.what());
        } catch (std::exception const& e) {
            detail::log_error("websocket " + path +
                              ": application failed before accept: " + e.what());
        }
        co_await refuse(stream, status, std::move(body), false);
    }

    if (handshake_ == Handshake::accepted) {
        Ws ws(stream.release_socket());
        websocket::stream_base::timeout opt{};
        opt.handshake_timeout = settings.handshake_timeout;
        opt.idle_timeout = settings.idle_timeout;
        opt.keep_alive_pings = true;
        ws.set_option(opt);
        ws.read_message_max(settings.max_message_size);
        ws.auto_fragment(false);
        std::string chosen = subprotocol_;
        ws.set_option(websocket::stream_base::decorator([chosen](websocket::response_type& res) {
            res.set(http::field::server, "canal");
            if (!chosen.empty()) {
                res.set(http::field::sec_websocket_protocol, chosen);
            }
        }));
        auto [ec] = co_await ws.async_accept(req, use_nothrow);
        if (!ec) {
            open_ = true;
            // From now on frames go straight to the socket's write side; the ones sent
            // while the handshake was being written go first, in order.
            transport_ = &ws.next_layer();
            transport_->publish_to(outbound_);
            for (auto& early : early_) {
                transport_->append_frame(early.binary, *early.data);
            }
            early_.clear();
            early_bytes_ = 0;
            if (settings.access_log) {
                detail::log_info("WSCONNECT " + path);
            }
            if (shutdown_requested_) {
                request_close(1001, "server shutting down");
            } else if (app_finished_) {
                request_close(app_error_ ? 1011 : 1000, {});
            }
            co_await (reader(ws) && closer(ws));
            // Nothing may write into the transport once this frame ends.
            transport_ = nullptr;
            co_await ws.next_layer().drain();
            if (settings.access_log) {
                detail::log_info("WSDISCONNECT " + path);
            }
        }
    }
    ended_ = true;
    open_ = false;
    early_.clear();

    // Tell the application the connection is gone, and let it finish its cleanup.
    if (!disconnect_sent_) {
        disconnect_sent_ = true;
        push_event(WebsocketDisconnect{1006});
    }
    if (!app_finished_) {
        net::steady_timer grace(ex_, settings.shutdown_timeout);
        grace.async_wait([self](boost::system::error_code ec) {
            if (!ec) {
                self->app_done_.notify();
            }
        });
        while (!app_finished_ && grace.expiry() > net::steady_timer::clock_type::now()) {
            co_await app_done_.wait();
        }
        grace.cancel();
        if (!app_finished_) {
            detail::log_warning(describe_ + ": application still running " +
                                "after the disconnect; abandoning it");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Plain HTTP: collect the application's response and write it.
struct HttpExchange {
    std::string body;
    bool body_taken = false;
    int status = 0;
    Headers headers;
    std::string out;

    awaitable<Event> receive() {
        if (!body_taken) {
            body_taken = true;
            co_return HttpRequest{std::move(body)};
        }
        co_return HttpDisconnect{};
    }

    awaitable<void> send(Event ev) {
        if (auto* start = std::get_if<HttpResponseStart>(&ev)) {
            status = start->status;
            headers = std::move(start->headers);
        } else if (auto* part = std::get_if<HttpResponseBody>(&ev)) {
            if (status == 0) {
                throw Error("http response body before http response start");
            }
            // Bodies are collected whole; more_body only says whether more parts follow.
            out += part->body;
        } else {
            throw Error("unexpected event sent by an http application");
        }
        co_return;
    }
};

awaitable<bool> serve_http(std::shared_ptr<Server::Impl> const& server, beast::tcp_stream& stream,
                           http::request<http::string_body>& req) {
    Scope scope;
    scope.type = "http";
    scope.scheme = "http";
    bool const keep_alive = req.keep_alive();
    if (!fill_scope(scope, req, stream.socket())) {
        co_await refuse(stream, 400, "invalid request target\n", false);
        co_return false;
    }
    scope.channel_layer = server->settings.channel_layer;
    auto const path = scope.path;
    auto const method = scope.method;

    auto state = std::make_shared<HttpExchange>();
    state->body = std::move(req.body());
    // Non-capturing coroutines behind plain lambdas: the closures may be moved freely.
    Receive receive = [state]() { return state->receive(); };
    Send send = [state](Event ev) { return state->send(std::move(ev)); };

    int status = 500;
    std::string failure;
    try {
        co_await server->app(std::move(scope), receive, send);
        if (state->status != 0) {
            status = state->status;
        } else {
            failure = "internal server error: the application sent no response\n";
        }
    } catch (RouteNotFound const& e) {
        status = 404;
        failure = "not found\n";
        if (server->settings.access_log) {
            detail::log_info(std::string("404 ") + e.what());
        }
    } catch (std::exception const& e) {
        detail::log_error("http " + path + ": " + e.what());
        failure = "internal server error\n";
    }
    if (server->settings.access_log) {
        detail::log_info(method + " " + path + " " + std::to_string(status));
    }
    if (!failure.empty() || state->status == 0) {
        co_await refuse(stream, status, failure, keep_alive);
        co_return keep_alive;
    }
    http::response<http::string_body> res{static_cast<http::status>(status), req.version()};
    res.set(http::field::server, "canal");
    for (auto const& [name, value] : state->headers) {
        res.insert(name, value);
    }
    if (req.method() != http::verb::head) {
        res.body() = std::move(state->out);
        res.prepare_payload();
    } else {
        res.content_length(state->out.size());
    }
    res.keep_alive(keep_alive);
    stream.expires_after(std::chrono::seconds(30));
    auto [ec, n] = co_await http::async_write(stream, res, use_nothrow);
    co_return !ec && keep_alive;
}

} // namespace

awaitable<void> Server::Impl::serve(tcp::socket socket) {
    ConnectionCount count(connections);
    auto self = shared_from_this();
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    auto ex = stream.get_executor();

    // Graceful shutdown of a keep-alive HTTP connection: cancel its read.
    auto stop_signal = std::make_shared<std::atomic<bool>>(false);
    auto* raw_stream = &stream;
    auto alive = std::make_shared<bool>(true);
    std::shared_ptr<WsSession> session;
    auto id = enroll([ex, raw_stream, alive, stop_signal, &session] {
        net::post(ex, [raw_stream, alive, stop_signal, &session] {
            if (!*alive) {
                return;
            }
            stop_signal->store(true);
            if (session) {
                session->shutdown();
            } else {
                raw_stream->cancel();
            }
        });
    });
    struct Withdraw {
        Impl* impl;
        std::uint64_t id;
        std::shared_ptr<bool> alive;
        ~Withdraw() {
            *alive = false;
            impl->withdraw(id);
        }
    } withdraw{this, id, alive};

    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(settings.max_body_size);
        parser.header_limit(16 * 1024);
        stream.expires_after(settings.handshake_timeout);
        auto [rec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
        if (rec) {
            if (rec == http::error::end_of_stream || rec == net::error::operation_aborted ||
                rec == beast::error::timeout || rec == net::error::eof ||
                rec == net::error::connection_reset || stop_signal->load()) {
                break;
            }
            if (rec == http::error::body_limit) {
                co_await refuse(stream, 413, "request body too large\n", false);
                break;
            }
            co_await refuse(stream, 400, "bad request: " + rec.message() + "\n", false);
            break;
        }
        auto req = parser.release();
        if (websocket::is_upgrade(req)) {
            if (stopping.load()) {
                co_await refuse(stream, 503, "server shutting down\n", false);
                break;
            }
            session = std::make_shared<WsSession>(self, ex);
            co_await session->run(std::move(stream), std::move(req), std::move(buffer));
            break;
        }
        if (!co_await serve_http(self, stream, req) || stopping.load()) {
            break;
        }
    }
    if (!session) {
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream.close();
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
        auto [ec, socket] = co_await acceptor->async_accept(conn_ex, use_nothrow);
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
        auto ex = socket.get_executor();
        net::co_spawn(ex, serve(std::move(socket)),
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
    if (s.handler_threads != 0) {
        set_handler_threads(s.handler_threads); // the pool is process-wide
    }
    if (!s.channel_layer) {
        s.channel_layer = make_channel_layer(s.layer);
    }
    boost::system::error_code ec;
    auto address = net::ip::make_address(s.host, ec);
    if (ec) {
        throw Error("invalid --host '" + s.host + "': " + ec.message());
    }
    tcp::endpoint endpoint(address, s.port);
    auto& acc = impl_->acceptor.emplace(net::make_strand(impl_->ioc->get_executor()));
    auto fail = [&](std::string_view step) {
        throw boost::system::system_error(ec, "cannot " + std::string(step) + " " + s.host + ":" +
                                                  std::to_string(s.port));
    };
    acc.open(endpoint.protocol(), ec);
    if (ec) {
        fail("open a socket for");
    }
    acc.set_option(net::socket_base::reuse_address(true), ec);
    acc.bind(endpoint, ec);
    if (ec) {
        fail("listen on");
    }
    acc.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        fail("listen on");
    }
    impl_->bound_port = acc.local_endpoint().port();
    net::co_spawn(acc.get_executor(), impl_->accept_loop(),
                  [](std::exception_ptr e) { detail::log_exception("accept loop", e); });
    for (unsigned i = 0; i < s.threads; ++i) {
        impl_->threads.emplace_back([impl = impl_] {
            detail::IoThreadScope io_thread; // async_to_sync() here is an error, not a hang
            impl->ioc->run();
        });
    }
}

unsigned short Server::port() const noexcept { return impl_->bound_port; }

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
    // Handlers still queued (a cancelled timer's, an abandoned application's) hold the
    // Impl: destroy them with the io_context so that nothing outlives the Server.
    if (impl_->stopping.load()) {
        // A sync_to_async task may still be inside its post back to this io_context
        // (stop() does not wait for outstanding work): let it get out first.
        if (!detail::wait_for_pool_posts(impl_->settings.shutdown_timeout)) {
            detail::log_warning("server stopped while sync_to_async work is still running; "
                                "it will post to a destroyed io_context");
        }
        impl_->acceptor.reset();
        impl_->ioc.reset();
    }
}

std::size_t Server::connection_count() const noexcept { return impl_->connections.load(); }

std::size_t Server::dropped_messages() const noexcept { return impl_->dropped.load(); }

std::size_t Server::overflow_closes() const noexcept { return impl_->overflow_closed.load(); }

Settings const& Server::settings() const noexcept { return impl_->settings; }

} // namespace canal
