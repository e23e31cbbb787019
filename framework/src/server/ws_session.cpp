// WsSession: a websocket connection over Beast, with the decisions taken in session_core.
#include "server/ws_session.hpp"

#include <canal/core/errors.hpp>

#include "detail/log.hpp"
#include "server/session_core.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <cerrno>
#include <utility>

#include <sys/socket.h>

namespace canal::detail {

namespace beast = boost::beast;
namespace http = beast::http;

WsSession::WsSession(std::shared_ptr<Server::Impl> server, net::any_io_executor ex)
    : server_(std::move(server)), ex_(std::move(ex)) {}

WsSession::~WsSession() { server_->sweep.remove(*this); }

// The application's `receive`.
awaitable<Event> WsSession::next_event() {
    while (inbox_.empty()) {
        co_await inbox_ready_.wait(ex_);
    }
    Event ev = std::move(inbox_.front());
    inbox_.pop_front();
    if (reading_paused_) {
        reading_paused_ = false;
        read_next();
    }
    co_return ev;
}

// The application's `send`.
awaitable<void> WsSession::on_send(Event ev) {
    if (auto* acc = std::get_if<WebsocketAccept>(&ev)) {
        if (handshake_ == Handshake::pending) {
            handshake_ = Handshake::accepted;
            if (!acc->subprotocol.empty() || !acc->headers.empty()) {
                accept_ = std::make_unique<WebsocketAccept>(std::move(*acc));
            }
            changed_.notify();
        }
    } else if (auto* snd = std::get_if<WebsocketSend>(&ev)) {
        if (handshake_ == Handshake::pending) {
            throw Error("websocket send before accept: accept the connection first");
        }
        if (handshake_ == Handshake::accepted) {
            enqueue(std::move(*snd));
        }
    } else if (auto* cl = std::get_if<WebsocketClose>(&ev)) {
        if (handshake_ == Handshake::pending) {
            handshake_ = Handshake::refused;
            changed_.notify();
        } else {
            request_close(cl->code, close_reason(std::move(cl->reason)));
        }
    } else {
        throw Error("unexpected event sent by a websocket application");
    }
    co_return;
}

void WsSession::push_event(Event ev) {
    if (sink_ != nullptr) {
        sink_->put(std::move(ev));
        return;
    }
    inbox_.push_back(std::move(ev));
    inbox_ready_.notify();
}

void WsSession::attach(EventSink* sink) {
    sink_ = sink;
    if (sink_ != nullptr) {
        for (auto& ev : inbox_) {
            sink_->put(std::move(ev));
        }
        decltype(inbox_)().swap(inbox_); // its storage too: the consumer's inbox takes them now
    }
    room();
}

void WsSession::room() {
    if (reading_paused_) {
        reading_paused_ = false;
        read_next();
    }
}

void WsSession::enqueue(WebsocketSend snd) {
    if (closing_ || ended_) {
        return; // a closing connection takes nothing more; the app learns from disconnect
    }
    auto const& settings = server_->settings;
    std::size_t const frames = transport_ ? transport_->queued_frames() : early_.size();
    std::size_t const bytes = transport_ ? transport_->queued_bytes() : early_bytes_;
    switch (detail::on_send(frames, bytes, settings)) {
    case SendAction::queue:
        break;
    case SendAction::drop:
        ++server_->dropped;
        return;
    case SendAction::close:
        // The socket took nothing for a whole queue: the client reads too slowly (a server
        // that is merely busy writes everything queued at each turn of the writer).
        ++server_->overflow_closed;
        log_warning("closing " + describe() + " with 1008: client too slow, outbound queue full (" +
                    std::to_string(frames) + " messages, " + std::to_string(bytes) + " bytes)");
        if (transport_) {
            transport_->discard_pending();
        }
        early_.clear();
        request_close(1008, "outbound queue full: client too slow");
        return;
    }
    server_->metrics.add(Count::messages_out);
    server_->metrics.add(Count::bytes_out, static_cast<std::int64_t>(snd.data->size()));
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

void WsSession::request_close(int code, std::string reason) {
    if (closing_ || ended_) {
        return;
    }
    closing_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
    start_close();
}

void WsSession::shutdown() {
    if (!open_) {
        // Still in the handshake: the pending wait ends by timeout or answer.
        shutdown_requested_ = true;
        return;
    }
    request_close(1001, "server shutting down");
}

void WsSession::app_finished(std::exception_ptr e) {
    app_finished_ = true;
    app_error_ = e;
    if (handshake_ == Handshake::pending) {
        handshake_ = Handshake::app_ended;
        changed_.notify();
    } else if (e) {
        log_exception(describe(), e);
        request_close(1011, "internal error");
    } else {
        request_close(1000, {});
    }
    changed_.notify();
    if (reading_paused_) {
        reading_paused_ = false;
        read_next();
    }
}

// What a client sent: a message for the application, a ping answered, a close answered.
// False when reading ends.
bool WsSession::on_input(WsInput in) {
    switch (in.kind) {
    case WsInput::Kind::text:
    case WsInput::Kind::binary:
        if (!close_sent_) { // after our close frame, data frames are ignored (RFC 6455 5.5.1)
            server_->metrics.add(Count::messages_in);
            server_->metrics.add(Count::bytes_in, static_cast<std::int64_t>(in.payload.size()));
            push_event(WebsocketReceive{std::move(in.payload), in.kind == WsInput::Kind::binary});
        }
        return true;
    case WsInput::Kind::ping:
        if (!close_sent_) {
            std::string pong;
            append_control_frame(pong, 0xA, in.payload);
            transport_->append_control(pong);
        }
        return true;
    case WsInput::Kind::pong:
    case WsInput::Kind::none:
        return true;
    case WsInput::Kind::close:
        if (in.code != 0 && !is_valid_close_code(in.code)) {
            // RFC 6455 does not allow this code (e.g. 1005, 5000): answered with 1002.
            end_ = ReadEnd::bad_close_code;
            send_close(1002, {});
        } else {
            end_ = ReadEnd::peer_closed;
            peer_code_ = in.code;
            send_close(in.code, {}); // the peer's code echoed (none when it sent none)
        }
        return false;
    case WsInput::Kind::failure:
        end_ = in.code == 1009   ? ReadEnd::too_big
               : in.code == 1007 ? ReadEnd::bad_utf8
                                 : ReadEnd::protocol_error;
        log_warning("closing " + describe() + " with " + std::to_string(in.code) + ": " +
                    std::string(in.what));
        send_close(in.code, {});
        return false;
    }
    return true;
}

// Parses `bytes` (advancing it) until one message went to the application or nothing is
// left. False when reading ends.
bool WsSession::consume(std::string_view& bytes) {
    while (!bytes.empty()) {
        WsInput in = parser_->next(bytes);
        bool const message = in.kind == WsInput::Kind::text || in.kind == WsInput::Kind::binary;
        if (in.kind == WsInput::Kind::none) {
            break;
        }
        if (!on_input(std::move(in))) {
            return false;
        }
        if (message) {
            break;
        }
    }
    return true;
}

// Keeps what `rest` (a view of the read buffer) still holds for the next turns.
void WsSession::keep_unparsed(std::string_view rest) {
    unparsed_.assign(rest);
    unparsed_at_ = 0;
}

// The bytes the socket holds beyond the few the pending read took, read into a buffer the
// thread shares: an idle connection keeps no read buffer. False when reading ends.
bool WsSession::read_more() {
    thread_local std::array<char, 64 * 1024> bulk;
    // A plain non-blocking recv: Asio's read_some would need the socket's user-level
    // non-blocking mode, one more syscall per connection.
    ssize_t const n = ::recv(transport_->socket().native_handle(), bulk.data(), bulk.size(),
                             MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return true;
    }
    if (n <= 0) {
        end_ = closing_ ? ReadEnd::server_closing : ReadEnd::broken;
        return false;
    }
    heard_ = true;
    keep_unparsed(std::string_view(bulk.data(), static_cast<std::size_t>(n)));
    return true;
}

// The reader, one step at a time from callbacks: an idle connection keeps only its pending
// read (no coroutine frame, no read buffer). One or two messages go to the application per
// turn of the event loop, as one read each did with Beast: a client's burst does not outrun
// the layer messages the same consumer has to take.
void WsSession::read_next() {
    while (!read_ended_) {
        // Bounded inbox: stop reading (TCP pushes back on the client) while it is full.
        bool const full = sink_ != nullptr ? !sink_->has_room() : inbox_.size() >= inbox_capacity;
        if (full && !app_finished_) {
            reading_paused_ = true;
            return;
        }
        if (unparsed_at_ >= unparsed_.size()) {
            // The socket's executor is the connection's (ex_): no binding needed.
            transport_->stream().async_read_some(
                read_buffer(),
                [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                    self->on_read(ec, n);
                });
            return;
        }
        std::string_view rest(unparsed_);
        rest.remove_prefix(unparsed_at_);
        bool const more = consume(rest);
        unparsed_at_ = unparsed_.size() - rest.size();
        if (rest.empty()) {
            unparsed_.clear();
            unparsed_at_ = 0;
            if (unparsed_.capacity() > 64 * 1024) {
                std::string().swap(unparsed_);
            }
        }
        if (!more) {
            end_reading();
            return;
        }
        if (!rest.empty()) {
            net::post(ex_, [self = shared_from_this()] { self->read_next(); });
            return;
        }
    }
}

// What the pending read takes: a few bytes (the rest is read at once by read_more()), or a
// whole TLS record's worth.
net::mutable_buffer WsSession::read_buffer() {
    if (tls_bytes_) {
        return net::buffer(*tls_bytes_);
    }
    return net::buffer(first_bytes_);
}

// A small read completes when anything arrives; the rest is read at once.
void WsSession::on_read(boost::system::error_code ec, std::size_t n) {
    if (read_ended_) {
        return;
    }
    if (ec) {
        end_ = closing_ ? ReadEnd::server_closing : ReadEnd::broken;
        end_reading();
        return;
    }
    heard_ = true;
    std::string_view got(tls_bytes_ ? tls_bytes_->data() : first_bytes_.data(), n);
    if (!consume(got)) {
        end_reading();
        return;
    }
    if (!got.empty()) {
        keep_unparsed(got);
    } else if (!tls_bytes_ && n == first_bytes_.size() && !read_more()) {
        end_reading();
        return;
    }
    read_next();
}

void WsSession::end_reading() {
    if (read_ended_) {
        return; // finish() is spawned once
    }
    read_ended_ = true;
    reading_paused_ = false;
    stop_keep_alive();
    parser_.reset();
    std::string().swap(unparsed_);
    unparsed_at_ = 0;
    open_ = false;
    ended_ = true;
    if (!disconnect_sent_) {
        disconnect_sent_ = true;
        push_event(WebsocketDisconnect{disconnect_code(end_, peer_code_, close_code_)});
    }
    // The connection's end goes on in a coroutine of its own (none ran while it was open).
    net::co_spawn(ex_, finish(), [self = shared_from_this()](std::exception_ptr e) {
        self->owner_.reset();
        log_exception("websocket connection", e);
    });
}

// Our close frame, once; after it only the peer's close (or the deadline) is waited for.
void WsSession::send_close(int code, std::string_view reason) {
    if (close_sent_ || !transport_) {
        return;
    }
    close_sent_ = true;
    std::string frame;
    append_close_frame(frame, code, reason);
    transport_->append_control(frame);
    // A peer that never reads cannot take the close frame, nor answer it: a deadline.
    arm_closing_deadline();
}

// The close frame goes after everything queued before it (the transport keeps the order).
void WsSession::start_close() {
    if (!open_ || close_sent_) {
        return;
    }
    send_close(close_code_, close_reason_);
}

// The close's deadline: the socket is closed when the peer has not answered by then.
// Keep-alive ends with it.
void WsSession::arm_closing_deadline() {
    if (closing_timer_) {
        return;
    }
    stop_keep_alive();
    closing_timer_ = std::make_unique<net::steady_timer>(ex_, server_->settings.handshake_timeout);
    closing_timer_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec && self->transport_) {
            boost::system::error_code ignored;
            self->transport_->socket().close(ignored);
        }
    });
}

// The keep-alive deadline, brought forward to the end of the websocket's lifetime
// (Settings::websocket_timeout) when that comes first.
void WsSession::arm_keep_alive(std::chrono::milliseconds after) {
    auto const lifetime = server_->settings.websocket_timeout;
    if (lifetime.count() > 0) {
        // Rounded up: the deadline must not pass before the lifetime has.
        auto const left = std::chrono::ceil<std::chrono::milliseconds>(
            opened_at_ + lifetime - std::chrono::steady_clock::now());
        after = std::max(std::chrono::milliseconds(0), std::min(after, left));
    }
    keep_alive_due_ = std::chrono::steady_clock::now() + after;
    set_due(keep_alive_due_);
    server_->sweep.add(*this);
}

void WsSession::stop_keep_alive() {
    keep_alive_due_ = std::chrono::steady_clock::time_point::max();
    clear_due();
    server_->sweep.remove(*this);
}

// The sweep's thread, under its lock: the rest goes on on the connection's strand (unless
// the session is already being destroyed).
void WsSession::deadline_passed() noexcept {
    try {
        if (auto self = weak_from_this().lock()) {
            net::post(ex_, [self = std::move(self)] { self->on_keep_alive(); });
        }
    } catch (std::exception const& e) {
        log_error(describe() + ": keep-alive not checked: " + e.what());
    }
}

// Keep-alive: a client silent for the ping interval is pinged, and dropped when it is still
// silent after the ping timeout. Lifetime: a websocket open for websocket_timeout is closed
// with 1001.
void WsSession::on_keep_alive() {
    // A due time set again after the sweep looked is not this one.
    if (!transport_ || ended_ || closing_timer_ ||
        std::chrono::steady_clock::now() < keep_alive_due_) {
        return;
    }
    keep_alive_due_ = std::chrono::steady_clock::time_point::max();
    auto const& settings = server_->settings;
    if (settings.websocket_timeout.count() > 0 &&
        std::chrono::steady_clock::now() >= opened_at_ + settings.websocket_timeout) {
        log_info(describe() + ": open for --websocket-timeout (" +
                 std::to_string(settings.websocket_timeout.count()) + " ms); closing with 1001");
        request_close(1001, "websocket timeout");
        return;
    }
    if (heard_) {
        heard_ = false;
        ping_sent_ = false;
        arm_keep_alive(settings.ping_interval);
    } else if (!ping_sent_) {
        ping_sent_ = true;
        std::string ping;
        append_control_frame(ping, 0x9, {});
        transport_->append_control(ping);
        arm_keep_alive(settings.ping_timeout);
    } else {
        log_info(describe() + ": no answer to the keep-alive ping; dropping the connection");
        boost::system::error_code ec;
        transport_->socket().close(ec);
    }
}

// Waits for accept / close / the application's end, within the handshake timeout; false
// when the timeout came first.
awaitable<bool> WsSession::await_answer() {
    net::steady_timer timeout(ex_, server_->settings.handshake_timeout);
    timeout.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) {
            self->changed_.notify();
        }
    });
    while (handshake_ == Handshake::pending) {
        if (timeout.expiry() <= net::steady_timer::clock_type::now()) {
            co_return false;
        }
        co_await changed_.wait(ex_);
    }
    timeout.cancel();
    changed_.release(); // nothing waits on it while the connection is open
    co_return true;
}

// Not a coroutine: the scope is built and handed to the application here, so that no copy
// of it stays in the frame that lasts as long as the connection.
std::optional<Refusal> WsSession::start(Stream& stream, Request const& req,
                                        std::optional<Endpoint> const& client) {
    auto& settings = server_->settings;
    auto scope = build_scope(request_head("websocket", req, stream, client, server_->fixed_local));
    if (server_->access_log) {
        access_ = std::make_unique<AccessInfo>();
        if (scope) {
            access_->client = access_client(*scope);
            access_->path = access_path(*scope);
        } else {
            access_->path = std::string(req.target().data(), req.target().size());
        }
    }
    if (!scope) {
        return Refusal{400, "invalid request target\n"};
    }
    if (auto refusal = check_upgrade(*scope)) {
        return refusal;
    }
    scope->channel_layer = settings.channel_layer;
    scope->channel_layers = server_->layers;
    scope->root_path = settings.root_path;
    if (server_->proxies) {
        apply_proxy_headers(*scope, *server_->proxies, !server_->listener_inet);
    }
    outbound_->byte_limit = settings.outbound_queue_bytes;
    scope->outbound = outbound_;
    scope_path_ = scope->path;

    auto self = shared_from_this();
    push_event(WebsocketConnect{});
    Receive receive = SourceReceive{self};
    Send send = [self](Event ev) { return self->on_send(std::move(ev)); };
    net::co_spawn(ex_, server_->app(std::move(*scope), std::move(receive), std::move(send)),
                  [self](std::exception_ptr e) { self->app_finished(e); });
    return std::nullopt;
}

namespace {
// A refusal on a socket the session still holds (a stream only for the write's timeout).
awaitable<void> refuse_on(Stream& stream, std::string const& server_name, int status,
                          std::string body) {
    co_await refuse(stream, server_name, status, std::move(body), false);
}
} // namespace

// What the handshake needs, on the heap: the frame that lasts as long as the connection
// (serve's) holds a pointer to it, and it is freed once the connection is open.
struct WsSession::Upgrade {
    Stream stream;
    Request req;
    std::string early;
    std::optional<Endpoint> client;
};

// Not a coroutine (see Upgrade).
awaitable<void> WsSession::run(Stream stream, Request req, std::string early,
                               std::optional<Endpoint> client) {
    return serve(std::make_unique<Upgrade>(Upgrade{std::move(stream), std::move(req),
                                                   std::move(early), std::move(client)}));
}

// The handshake: true when the connection was accepted, else the client was answered.
awaitable<bool> WsSession::handshake(Upgrade& up) {
    auto& settings = server_->settings;
    if (auto refusal = start(up.stream, up.req, up.client)) {
        app_finished_ = true; // no application was started: nothing to wait for
        refused(Count::handshake_invalid, refusal->status);
        co_await refuse_on(up.stream, settings.server_name, refusal->status, std::move(refusal->body));
        co_return false;
    }
    if (!co_await await_answer()) {
        log_warning(describe() + ": handshake timed out waiting for the application");
        refused(Count::handshake_timeout, 503);
        std::string body = "handshake timeout\n";
        co_await refuse_on(up.stream, settings.server_name, 503, std::move(body));
    } else if (handshake_ == Handshake::refused) {
        refused(Count::handshake_refused, 403);
        std::string body = "websocket connection refused\n";
        co_await refuse_on(up.stream, settings.server_name, 403, std::move(body));
    } else if (handshake_ == Handshake::app_ended) {
        auto answer = answer_early_end(app_error_, describe());
        if (!answer.log.empty()) {
            if (answer.error_level) {
                log_error(answer.log);
            } else {
                log_warning(answer.log);
            }
        }
        refused(Count::handshake_refused, answer.answer.status);
        co_await refuse_on(up.stream, settings.server_name, answer.answer.status,
                           std::move(answer.answer.body));
    } else {
        co_return true;
    }
    co_return false;
}

// The handshake. An accepted connection then goes on from callbacks (the reader, the
// timer, the application's sends): no frame of this coroutine stays for its open life, and
// finish() runs once reading has ended.
awaitable<void> WsSession::serve(std::unique_ptr<Upgrade> up) {
    bool const accepted = co_await handshake(*up);
    if (accepted) {
        open(std::move(up->stream), up->req, std::move(up->early));
        up.reset(); // the upgrade request is not needed any more
        read_next();
        co_return;
    }
    up.reset();
    ended_ = true;
    open_ = false;
    early_.clear();

    // Tell the application the connection is gone, and let it finish its cleanup.
    if (!disconnect_sent_) {
        disconnect_sent_ = true;
        push_event(WebsocketDisconnect{1006});
    }
    co_await wait_for_app();
    owner_.reset();
}

// An open connection's end, once reading has ended: the socket closed, counted, logged,
// and the application given its time to finish.
awaitable<void> WsSession::finish() {
    co_await finish_socket();
    auto const code = disconnect_code(end_, peer_code_, close_code_);
    server_->metrics.add(Count::websockets_open, -1);
    server_->metrics.count_close(code);
    if (access_) {
        log_access("WSDISCONNECT", code, opened_at_);
    }
    ended_ = true;
    open_ = false;
    early_.clear();
    co_await wait_for_app();
}

// The handshake's response (written first, then whatever the application sent meanwhile);
// the connection is open from here.
void WsSession::open(Stream stream, Request const& req, std::string early) {
    auto& settings = server_->settings;
    if (stream.secure()) {
        tls_bytes_ = std::make_unique<std::array<char, 16 * 1024>>();
    }
    transport_.emplace(std::move(stream));
    parser_.emplace(settings.max_message_size);
    auto const key = req[http::field::sec_websocket_key];
    std::string response =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        websocket_accept_key(std::string_view(key.data(), key.size())) + "\r\n";
    if (!settings.server_name.empty()) {
        response += "Server: " + settings.server_name + "\r\n";
    }
    if (accept_) {
        if (!accept_->subprotocol.empty()) {
            response += "Sec-WebSocket-Protocol: " + accept_->subprotocol + "\r\n";
        }
        for (auto const& [name, value] : accept_->headers) {
            if (!valid_response_header(name, value)) {
                log_warning(describe() + ": header '" + name +
                            "' given to accept() left out of the handshake: not a valid "
                            "header name, or CR/LF in its value");
                continue;
            }
            response += name + ": " + value + "\r\n";
        }
        accept_.reset();
    }
    response += "\r\n";
    transport_->append_control(response);
    open_ = true;
    transport_->publish_to(outbound_, &server_->metrics);
    for (auto& frame : early_) {
        transport_->append_frame(frame.binary, *frame.data);
    }
    early_.clear();
    early_bytes_ = 0;
    unparsed_ = std::move(early); // frames sent in the same packet as the upgrade request
    unparsed_at_ = 0;
    opened_at_ = std::chrono::steady_clock::now();
    server_->metrics.add(Count::handshake_accepted);
    server_->metrics.add(Count::websockets_open);
    server_->metrics.count_http(101);
    if (access_) {
        log_access("WSCONNECT", 101, access_->begun_steady);
    }
    arm_keep_alive(settings.ping_interval);
    if (closing_) {
        start_close(); // asked for while the handshake was being answered
    } else if (shutdown_requested_) {
        request_close(1001, "server shutting down");
    } else if (app_finished_) {
        request_close(app_error_ ? 1011 : 1000, {});
    }
}

// After the read side ended: what is queued (our close frame last) is written, the send side
// shut down, and the socket closed once the peer has closed too, so that unread bytes do
// not turn the close into a reset (or once the deadline passed).
awaitable<void> WsSession::finish_socket() {
    arm_closing_deadline();
    co_await transport_->drain();
    auto& socket = transport_->socket();
    boost::system::error_code ec;
    if (socket.is_open()) {
        socket.shutdown(net::socket_base::shutdown_send, ec);
        for (int i = 0; i < 64 && socket.is_open(); ++i) {
            auto [rec, n] = co_await transport_->stream().async_read_some(read_buffer(), use_nothrow);
            if (rec) {
                break;
            }
        }
        socket.close(ec);
    }
    closing_timer_->cancel();
}

void WsSession::refused(Count why, int status) {
    server_->metrics.add(why);
    server_->metrics.count_http(status);
    if (access_) {
        log_access("WSREJECT", status, access_->begun_steady);
    }
}

void WsSession::log_access(std::string_view method, int status,
                           std::chrono::steady_clock::time_point since) {
    AccessRecord record;
    record.time = access_->begun;
    record.client = access_->client;
    record.method = method;
    record.path = access_->path;
    record.status = status;
    record.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - since);
    server_->access_log->write(record);
}

awaitable<void> WsSession::wait_for_app() {
    if (app_finished_) {
        co_return;
    }
    net::steady_timer grace(ex_, server_->settings.application_close_timeout);
    grace.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) {
            self->changed_.notify();
        }
    });
    while (!app_finished_ && grace.expiry() > net::steady_timer::clock_type::now()) {
        co_await changed_.wait(ex_);
    }
    grace.cancel();
    if (!app_finished_) {
        log_warning(describe() + ": application still running after the disconnect; abandoning it");
    }
}

} // namespace canal::detail
