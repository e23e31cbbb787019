// Transport: a Redis connection's byte stream, plain TCP or TLS (rediss://) over it.
#pragma once

#include <canal/core/net.hpp>
#include <canal/redis/url.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <cstddef>
#include <memory>
#include <tuple>

namespace canal::redis::detail {

/**
 * The TLS settings a `rediss://` URL asks for (its CA file, whether the server's certificate
 * is checked); null for `redis://`.
 * @throws std::invalid_argument naming the CA file when it cannot be loaded.
 */
std::shared_ptr<net::ssl::context> make_tls_context(Url const& url);

/** One connection: a TCP socket, with a TLS stream over it when there is a TLS context. */
class Transport {
public:
    Transport(net::any_io_executor const& ex, std::shared_ptr<net::ssl::context> tls);

    /** The TCP socket (to connect, set options). */
    [[nodiscard]] net::ip::tcp::socket& socket() noexcept { return socket_; }

    /**
     * The TLS handshake (nothing for plain TCP): SNI with `url.host`, and the server's
     * certificate checked against it unless the URL said `ssl_cert_reqs=none`.
     */
    awaitable<boost::system::error_code> handshake(Url const& url);
    awaitable<std::tuple<boost::system::error_code, std::size_t>>
    read_some(net::mutable_buffer buffer);
    awaitable<std::tuple<boost::system::error_code, std::size_t>>
    write(net::const_buffer buffer);
    /** Closes the socket (a pending operation ends with an error). */
    void close() noexcept;

private:
    net::ip::tcp::socket socket_;
    std::shared_ptr<net::ssl::context> context_;
    std::unique_ptr<net::ssl::stream<net::ip::tcp::socket&>> tls_;
};

} // namespace canal::redis::detail
