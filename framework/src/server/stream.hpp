// Stream: a connection's bytes, whatever carries them: a TCP or unix-domain socket (Asio's
// generic stream socket, so that an inherited descriptor of either family works too), or
// TLS over one. The HTTP and websocket sessions read and write through it; it also keeps a
// deadline for the reads and writes of the HTTP phase (Beast's tcp_stream did).
#pragma once

#include <canal/core/net.hpp>
#include <canal/core/scope.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace canal::detail {

using Socket = net::generic::stream_protocol::socket;

class Stream {
public:
    using executor_type = net::any_io_executor;
    using Tls = net::ssl::stream<Socket>;

    /** Plain bytes on `socket`. */
    explicit Stream(Socket socket) : socket_(std::move(socket)) {}
    /** TLS on `socket` with `context` (server side); handshake() comes first. */
    Stream(Socket socket, net::ssl::context& context)
        : socket_(socket.get_executor()),
          tls_(std::make_unique<Tls>(std::move(socket), context)) {}

    Stream(Stream&& other) noexcept;
    Stream& operator=(Stream&& other) noexcept;
    Stream(Stream const&) = delete;
    Stream& operator=(Stream const&) = delete;
    ~Stream();

    executor_type get_executor() noexcept { return lowest().get_executor(); }
    /** The socket under the TLS layer, if any. */
    Socket& lowest() noexcept { return tls_ ? tls_->next_layer() : socket_; }
    [[nodiscard]] bool secure() const noexcept { return tls_ != nullptr; }

    template <typename Buffers, typename Token>
    auto async_read_some(Buffers const& buffers, Token&& token) {
        return net::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, Buffers const& b) {
                if (tls_) {
                    tls_->async_read_some(b, std::move(handler));
                } else {
                    socket_.async_read_some(b, std::move(handler));
                }
            },
            token, buffers);
    }

    template <typename Buffers, typename Token>
    auto async_write_some(Buffers const& buffers, Token&& token) {
        return net::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, Buffers const& b) {
                if (tls_) {
                    tls_->async_write_some(b, std::move(handler));
                } else {
                    socket_.async_write_some(b, std::move(handler));
                }
            },
            token, buffers);
    }

    /** The TLS handshake (server side), within `timeout`; an empty error for plain streams. */
    awaitable<boost::system::error_code> handshake(std::chrono::milliseconds timeout);

    /**
     * Reads and writes started from now fail (operation_aborted) once `after` has passed:
     * the socket's operations are cancelled. expires_never() before the stream is moved.
     */
    void expires_after(std::chrono::milliseconds after);
    void expires_never();
    /** Frees the deadline (an open websocket keeps none; expires_after() makes a new one). */
    void release_deadline() noexcept;
    /** The last deadline passed (what an operation_aborted meant). */
    [[nodiscard]] bool timed_out() const noexcept { return deadline_ && deadline_->passed; }

    /** Closes the socket (pending operations end with operation_aborted). */
    void close() noexcept;
    /** Cancels the socket's pending operations (operation_aborted). */
    void cancel() noexcept {
        boost::system::error_code ec;
        lowest().cancel(ec);
    }

private:
    struct Deadline {
        explicit Deadline(executor_type ex) : timer(std::move(ex)) {}
        net::steady_timer timer;
        Socket* socket = nullptr;
        bool passed = false;
    };

    Socket socket_; // plain: the connection; TLS: unused (closed)
    std::unique_ptr<Tls> tls_;
    // Allocated at the first expires_after() (an open websocket never has one).
    std::shared_ptr<Deadline> deadline_;
};

/** The peer's (`remote`) or the local address of `socket`: host and port, or a unix path. */
std::optional<Endpoint> endpoint_of(Socket& socket, bool remote);
/** The same from an address: host and port, or a unix path (nothing for an unnamed one). */
std::optional<Endpoint> endpoint_from(net::generic::stream_protocol::endpoint const& ep);

/**
 * The TLS context of a server from PEM files: the certificate chain and its private key.
 * Throws InvalidSetting naming `--tls-cert` or `--tls-key` when a file cannot be read or
 * parsed, or the key does not match the certificate.
 */
std::unique_ptr<net::ssl::context> make_tls_context(std::string const& cert_file,
                                                    std::string const& key_file);

} // namespace canal::detail
