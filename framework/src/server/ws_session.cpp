// WsSession: a websocket connection over Beast, with the decisions taken in session_core.
#include "server/ws_session.hpp"

#include <canal/core/errors.hpp>

#include "detail/log.hpp"
#include "server/session_core.hpp"
#include "server/ws_transport.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

namespace canal::detail {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

struct WsSession::Socket : websocket::stream<WsTransport> {
    using websocket::stream<WsTransport>::stream;
};

WsSession::WsSession(std::shared_ptr<Server::Impl> server, net::any_io_executor ex)
    : server_(std::move(server)), ex_(ex), inbox_ready_(ex), state_changed_(ex),
      handshake_done_(ex), app_done_(ex) {}

// The application's `receive`.
awaitable<Event> WsSession::next_event() {
    while (inbox_.empty()) {
        co_await inbox_ready_.wait();
    }
    Event ev = std::move(inbox_.front());
    inbox_.pop_front();
    if (reader_space_ != nullptr) {
        reader_space_->notify();
    }
    co_return ev;
}

// The application's `send`.
awaitable<void> WsSession::on_send(Event ev) {
    if (auto* acc = std::get_if<WebsocketAccept>(&ev)) {
        if (handshake_ == Handshake::pending) {
            handshake_ = Handshake::accepted;
            subprotocol_ = std::move(acc->subprotocol);
            handshake_done_.notify();
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
            handshake_done_.notify();
        } else {
            request_close(cl->code, close_reason(std::move(cl->reason)));
        }
    } else {
        throw Error("unexpected event sent by a websocket application");
    }
    co_return;
}

void WsSession::push_event(Event ev) {
    inbox_.push_back(std::move(ev));
    inbox_ready_.notify();
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
        log_warning("closing " + describe_ + " with 1008: client too slow, outbound queue full (" +
                    std::to_string(frames) + " messages, " + std::to_string(bytes) + " bytes)");
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
        handshake_done_.notify();
    } else if (e) {
        log_exception(describe_, e);
        request_close(1011, "internal error");
    } else {
        request_close(1000, {});
    }
    app_done_.notify();
    if (reader_space_ != nullptr) {
        reader_space_->notify();
    }
}

awaitable<void> WsSession::reader(Socket& ws) {
    Notifier space(ex_);
    reader_space_ = &space;
    struct Reset {
        Notifier*& n;
        ~Reset() { n = nullptr; }
    } reset{reader_space_};
    ReadEnd end = ReadEnd::broken;
    for (;;) {
        beast::flat_buffer buf;
        auto [ec, n] = co_await ws.async_read(buf, use_nothrow);
        if (ec) {
            if (ec == websocket::error::closed) {
                end = bad_close_code_ ? ReadEnd::bad_close_code : ReadEnd::peer_closed;
            } else if (ec == websocket::error::message_too_big) {
                end = ReadEnd::too_big;
            } else if (ec == websocket::error::bad_frame_payload) {
                end = ReadEnd::bad_utf8;
            } else if (ec == websocket::error::bad_close_code) {
                end = ReadEnd::bad_close_code;
            } else if (closing_) {
                end = ReadEnd::server_closing;
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
        push_event(WebsocketDisconnect{disconnect_code(end, ws.reason().code, close_code_)});
    }
}

// The close frame goes after everything queued before it (the transport keeps the order).
// Callbacks, not a coroutine: an idle connection keeps only its reader waiting.
void WsSession::start_close() {
    if (close_pending_ || ws_ == nullptr || !open_) {
        return;
    }
    close_pending_ = true;
    auto self = shared_from_this();
    // A peer that never reads cannot take the close frame: give it a deadline.
    close_deadline_.emplace(ex_, server_->settings.handshake_timeout);
    close_deadline_->async_wait([self](boost::system::error_code ec) {
        if (!ec && self->open_ && self->ws_ != nullptr) {
            beast::get_lowest_layer(*self->ws_).close(ec);
        }
    });
    websocket::close_reason reason(static_cast<websocket::close_code>(close_code_), close_reason_);
    ws_->async_close(reason, [self](boost::system::error_code ec) {
        if (ec && self->ws_ != nullptr) {
            beast::get_lowest_layer(*self->ws_).close(ec);
        }
        self->close_pending_ = false;
        self->state_changed_.notify();
    });
}

// Waits for accept / close / the application's end, within the handshake timeout; false
// when the timeout came first.
awaitable<bool> WsSession::await_answer() {
    net::steady_timer timeout(ex_, server_->settings.handshake_timeout);
    timeout.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) {
            self->handshake_done_.notify();
        }
    });
    while (handshake_ == Handshake::pending) {
        if (timeout.expiry() <= net::steady_timer::clock_type::now()) {
            co_return false;
        }
        co_await handshake_done_.wait();
    }
    timeout.cancel();
    co_return true;
}

// Not a coroutine: the scope is built and handed to the application here, so that no copy
// of it stays in the frame that lasts as long as the connection.
std::optional<Refusal> WsSession::start(net::ip::tcp::socket& socket, Request const& req) {
    auto& settings = server_->settings;
    auto scope = build_scope(request_head("websocket", req, socket));
    if (!scope) {
        return Refusal{400, "invalid request target\n"};
    }
    if (auto refusal = check_upgrade(*scope)) {
        return refusal;
    }
    scope->channel_layer = settings.channel_layer;
    scope->outbound = outbound_;
    describe_ = "websocket " + scope->path;
    scope_path_ = scope->path;

    auto self = shared_from_this();
    push_event(WebsocketConnect{});
    Receive receive = [self]() { return self->next_event(); };
    Send send = [self](Event ev) { return self->on_send(std::move(ev)); };
    net::co_spawn(ex_, server_->app(std::move(*scope), std::move(receive), std::move(send)),
                  [self](std::exception_ptr e) { self->app_finished(e); });
    return std::nullopt;
}

awaitable<void> WsSession::run(beast::tcp_stream stream, Request req, std::string early) {
    auto& settings = server_->settings;
    if (auto refusal = start(stream.socket(), req)) {
        co_await refuse(stream, refusal->status, std::move(refusal->body), false);
        co_return;
    }
    if (!co_await await_answer()) {
        log_warning(describe_ + ": handshake timed out waiting for the application");
        co_await refuse(stream, 503, "handshake timeout\n", false);
    } else if (handshake_ == Handshake::refused) {
        if (settings.access_log) {
            log_info("WSREJECT " + scope_path_ + " 403");
        }
        co_await refuse(stream, 403, "websocket connection refused\n", false);
    } else if (handshake_ == Handshake::app_ended) {
        auto answer = answer_early_end(app_error_, describe_);
        if (!answer.log.empty()) {
            if (answer.error_level) {
                log_error(answer.log);
            } else {
                log_warning(answer.log);
            }
        }
        co_await refuse(stream, answer.answer.status, std::move(answer.answer.body), false);
    } else {
        Socket ws(stream.release_socket());
        ws.next_layer().preload(early);
        std::string().swap(early);
        if (co_await open(ws, req)) {
            co_await serve_frames(ws);
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
    co_await wait_for_app();
}

// The handshake's response, and what waited for it; true when the connection is open.
awaitable<bool> WsSession::open(Socket& ws, Request& req) {
    auto& settings = server_->settings;
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
    // A close code RFC 6455 does not allow that Beast lets through (5000 and up): answered
    // with 1002, and the application told so.
    ws.control_callback([this, &ws](websocket::frame_type kind, beast::string_view) {
        if (kind == websocket::frame_type::close && ws.reason().code != 0 &&
            !is_valid_close_code(ws.reason().code)) {
            bad_close_code_ = true;
            ws.next_layer().answer_close_with(1002);
        }
    });
    auto [ec] = co_await ws.async_accept(req, use_nothrow);
    req = Request{}; // the upgrade request's fields are not needed any more
    if (ec) {
        co_return false;
    }
    open_ = true;
    ws_ = &ws;
    // From now on frames go straight to the socket's write side; the ones sent while the
    // handshake was being written go first, in order.
    transport_ = &ws.next_layer();
    transport_->publish_to(outbound_);
    for (auto& early : early_) {
        transport_->append_frame(early.binary, *early.data);
    }
    early_.clear();
    early_bytes_ = 0;
    if (settings.access_log) {
        log_info("WSCONNECT " + scope_path_);
    }
    if (closing_) {
        start_close(); // asked for while the handshake was being written
    } else if (shutdown_requested_) {
        request_close(1001, "server shutting down");
    } else if (app_finished_) {
        request_close(app_error_ ? 1011 : 1000, {});
    }
    co_return true;
}

// The open connection: frames in until the read side ends, then the close's end.
awaitable<void> WsSession::serve_frames(Socket& ws) {
    co_await reader(ws);
    if (close_deadline_) {
        close_deadline_->cancel();
    }
    while (close_pending_) {
        co_await state_changed_.wait();
    }
    close_deadline_.reset();
    // Nothing may write into the transport, or close the socket, once this frame ends.
    ws_ = nullptr;
    transport_ = nullptr;
    co_await ws.next_layer().drain();
    if (server_->settings.access_log) {
        log_info("WSDISCONNECT " + scope_path_);
    }
}

awaitable<void> WsSession::wait_for_app() {
    if (app_finished_) {
        co_return;
    }
    net::steady_timer grace(ex_, server_->settings.shutdown_timeout);
    grace.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) {
            self->app_done_.notify();
        }
    });
    while (!app_finished_ && grace.expiry() > net::steady_timer::clock_type::now()) {
        co_await app_done_.wait();
    }
    grace.cancel();
    if (!app_finished_) {
        log_warning(describe_ + ": application still running after the disconnect; abandoning it");
    }
}

} // namespace canal::detail
