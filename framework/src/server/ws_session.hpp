// WsSession: one websocket connection: the application's inbox, the handshake, the reader and
// the close. Frames the application sends go straight to the socket's write side
// (WsTransport). Everything here runs on the connection's strand.
#pragma once

#include "server/server_impl.hpp"
#include "server/session_core.hpp"

#include "detail/notifier.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>

#include <boost/asio/steady_timer.hpp>

#include <boost/container/devector.hpp>

#include <vector>
#include <optional>
#include <exception>
#include <memory>
#include <string>

namespace canal::detail {

class WsTransport;

class WsSession : public std::enable_shared_from_this<WsSession> {
public:
    using Request = boost::beast::http::request<boost::beast::http::empty_body>;

    /** Client events read but not yet taken by the application; the reader pauses beyond. */
    static constexpr std::size_t inbox_capacity = 64;

    WsSession(std::shared_ptr<Server::Impl> server, net::any_io_executor ex);

    /**
     * Runs the connection to its end: the scope, the application, the handshake's answer,
     * then the frames. `early` holds bytes read after the request head (first frames).
     */
    awaitable<void> run(boost::beast::tcp_stream stream, Request req, std::string early);

    /** Graceful stop: close with 1001 (or refuse, still in the handshake). Strand only. */
    void shutdown();

private:
    enum class Handshake { pending, accepted, refused, app_ended };
    struct Socket;

    awaitable<Event> next_event();
    awaitable<void> on_send(Event ev);
    void push_event(Event ev);
    void enqueue(WebsocketSend snd);
    void request_close(int code, std::string reason);
    void app_finished(std::exception_ptr e);
    awaitable<bool> await_answer();
    std::optional<Refusal> start(net::ip::tcp::socket& socket, Request const& req);
    awaitable<bool> open(Socket& ws, Request& req);
    awaitable<void> serve_frames(Socket& ws);
    awaitable<void> reader(Socket& ws);
    void start_close();
    awaitable<void> wait_for_app();

    std::shared_ptr<Server::Impl> server_;
    net::any_io_executor ex_;
    std::string describe_;
    std::string scope_path_;
    // devector, not deque: nothing is allocated while empty (most of an idle connection's life).
    boost::container::devector<Event> inbox_;
    Notifier inbox_ready_;
    Notifier* reader_space_ = nullptr; // the reader's, while it waits for room in the inbox
    // Frames sent after accept() but before the handshake response was written.
    std::vector<WebsocketSend> early_;
    std::size_t early_bytes_ = 0;
    // What the application can read of the queue (buffered_amount()).
    std::shared_ptr<OutboundQueue> outbound_ = std::make_shared<OutboundQueue>();
    // The socket's write side, once the handshake is written (frames go straight to it).
    WsTransport* transport_ = nullptr;
    // The stream, while open (the close is started on it by callbacks).
    Socket* ws_ = nullptr;
    std::optional<net::steady_timer> close_deadline_;
    bool close_pending_ = false;
    Notifier state_changed_;
    Notifier handshake_done_;
    Notifier app_done_;
    Handshake handshake_ = Handshake::pending;
    std::string subprotocol_;
    std::exception_ptr app_error_;
    bool app_finished_ = false;
    bool open_ = false;  // the handshake is written and the connection is not over
    bool ended_ = false; // the connection is over (read side ended, or it never opened)
    bool closing_ = false;
    bool shutdown_requested_ = false;
    bool disconnect_sent_ = false;
    bool bad_close_code_ = false;
    int close_code_ = 1000;
    std::string close_reason_;
};

} // namespace canal::detail
