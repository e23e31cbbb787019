// WsSession: one websocket connection: the application's inbox, the handshake, the reader,
// keep-alive and the close. Frames are read by WsParser (sans-I/O); frames the application
// sends go straight to the socket's write side (WsTransport). Everything here runs on the
// connection's strand.
#pragma once

#include "core/event_source.hpp"
#include "server/deadline_sweep.hpp"
#include "server/server_impl.hpp"
#include "server/session_core.hpp"
#include "server/ws_parser.hpp"
#include "server/ws_transport.hpp"

#include "detail/notifier.hpp"

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>

#include <boost/asio/steady_timer.hpp>

#include <boost/container/devector.hpp>

#include <array>
#include <chrono>
#include <string_view>
#include <vector>
#include <optional>
#include <exception>
#include <memory>
#include <string>

namespace canal::detail {

class WsSession : public std::enable_shared_from_this<WsSession>,
                  public EventSource,
                  private DeadlineSweep::Client {
public:
    using Request = boost::beast::http::request<boost::beast::http::empty_body>;

    /** Client events read but not yet taken by the application; the reader pauses beyond. */
    static constexpr std::size_t inbox_capacity = 64;

    WsSession(std::shared_ptr<Server::Impl> server, net::any_io_executor ex);
    ~WsSession() override;
    WsSession(WsSession const&) = delete;
    WsSession& operator=(WsSession const&) = delete;

    /**
     * Runs the connection to its end: the scope, the application, the handshake's answer,
     * then the frames. `early` holds bytes read after the request head (first frames);
     * `client` is the peer's address, as accept() gave it.
     */
    awaitable<void> run(Stream stream, Request req, std::string early,
                        std::optional<Endpoint> client);

    /**
     * Keeps `owner` (the server's record of the connection) alive until the connection is
     * over: run() returns once the connection is open, and the rest goes on from callbacks.
     */
    void keep(std::shared_ptr<void> owner) { owner_ = std::move(owner); }

    /** Graceful stop: close with 1001 (or refuse, still in the handshake). Strand only. */
    void shutdown();

    // EventSource: the application's receive(), or a consumer's inbox attached.
    awaitable<Event> next() override { return next_event(); }
    void attach(EventSink* sink) override;
    void room() override;
    void hold(std::shared_ptr<void const> what) override { held_.push_back(std::move(what)); }

private:
    enum class Handshake { pending, accepted, refused, app_ended };
    struct Upgrade;

    awaitable<Event> next_event();
    awaitable<void> on_send(Event ev);
    void push_event(Event ev);
    void enqueue(WebsocketSend snd);
    void request_close(int code, std::string reason);
    void app_finished(std::exception_ptr e);
    awaitable<bool> await_answer();
    std::optional<Refusal> start(Stream& stream, Request const& req,
                                 std::optional<Endpoint> const& client);
    awaitable<bool> handshake(Upgrade& up);
    awaitable<void> serve(std::unique_ptr<Upgrade> up);
    awaitable<void> finish();
    void open(Stream stream, Request const& req, std::string early);
    net::mutable_buffer read_buffer();
    void read_next();
    void on_read(boost::system::error_code ec, std::size_t n);
    void end_reading();
    bool consume(std::string_view& bytes);
    void keep_unparsed(std::string_view rest);
    bool read_more();
    bool on_input(WsInput in);
    void send_close(int code, std::string_view reason);
    void start_close();
    void arm_closing_deadline();
    void arm_keep_alive(std::chrono::milliseconds after);
    void stop_keep_alive();
    void deadline_passed() noexcept override;
    void on_keep_alive();
    awaitable<void> finish_socket();
    awaitable<void> wait_for_app();
    // A handshake answered with `status` instead of 101: counted (`why`) and access-logged.
    void refused(Count why, int status);
    // "websocket PATH", for log lines (made when one is written, not kept).
    [[nodiscard]] std::string describe() const { return "websocket " + scope_path_; }
    // The access log's line (when there is one): `method` (WSCONNECT...), `status`, and the
    // time since `since`.
    void log_access(std::string_view method, int status, std::chrono::steady_clock::time_point since);

    // What the access log needs, kept only when there is one.
    struct AccessInfo {
        std::string client = "-";
        std::string path;
        std::chrono::system_clock::time_point begun = std::chrono::system_clock::now();
        std::chrono::steady_clock::time_point begun_steady = std::chrono::steady_clock::now();
    };

    std::shared_ptr<Server::Impl> server_;
    std::shared_ptr<void> owner_;
    // What the routers' choices need while the application runs (this session outlives it:
    // the application's completion handler holds it).
    std::vector<std::shared_ptr<void const>> held_;
    std::unique_ptr<AccessInfo> access_;
    net::any_io_executor ex_;
    std::string scope_path_;
    // devector, not deque: nothing is allocated while empty (most of an idle connection's life).
    boost::container::devector<Event> inbox_;
    // Made when the application first waits in receive() (not when a consumer is attached).
    LazyNotifier inbox_ready_;
    bool reading_paused_ = false; // the reader waits for room in the inbox
    EventSink* sink_ = nullptr;   // a consumer's inbox, attached: events go there
    bool read_ended_ = false;
    // Frames sent after accept() but before the handshake response was written.
    std::vector<WebsocketSend> early_;
    std::size_t early_bytes_ = 0;
    // What the application can read of the queue (buffered_amount()).
    std::shared_ptr<OutboundQueue> outbound_ = std::make_shared<OutboundQueue>();
    // The socket and its write side, once the handshake is answered (frames go straight to
    // it while open_).
    std::optional<WsTransport> transport_;
    std::optional<WsParser> parser_;
    // Bytes read but not parsed yet (from unparsed_at_): one message is parsed per turn.
    std::string unparsed_;
    std::size_t unparsed_at_ = 0;
    // What the pending read takes; the rest of what arrived is read into a per-thread buffer.
    std::array<char, 128> first_bytes_{};
    // Over TLS the whole record is read at once (the socket's bytes are not the message's).
    std::unique_ptr<std::array<char, 16 * 1024>> tls_bytes_;
    // Keep-alive and lifetime while open: a due time the server's sweep looks at (no timer
    // of its own); `keep_alive_due_` is its strand-side copy (max: none).
    std::chrono::steady_clock::time_point keep_alive_due_ =
        std::chrono::steady_clock::time_point::max();
    // The close's deadline (made when the close starts).
    std::unique_ptr<net::steady_timer> closing_timer_;
    std::chrono::steady_clock::time_point opened_at_; // the handshake was answered
    bool heard_ = false;      // something arrived since the timer was armed
    bool ping_sent_ = false;  // the keep-alive ping is out, unanswered
    bool close_sent_ = false; // our close frame is queued
    ReadEnd end_ = ReadEnd::broken;
    int peer_code_ = 0;
    // The handshake's answer, then the application's end: what await_answer() and
    // wait_for_app() wait for (one at a time; none while the connection is open).
    LazyNotifier changed_;
    Handshake handshake_ = Handshake::pending;
    std::unique_ptr<WebsocketAccept> accept_; // the accept's subprotocol and headers, until the 101
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

} // namespace canal::detail
