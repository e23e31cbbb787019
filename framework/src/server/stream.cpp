#include "server/stream.hpp"

#include <canal/server/settings.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace canal::detail {

Stream::Stream(Stream&& other) noexcept
    : socket_(std::move(other.socket_)), tls_(std::move(other.tls_)),
      deadline_(std::move(other.deadline_)) {
    if (deadline_) {
        deadline_->socket = &lowest();
    }
}

Stream& Stream::operator=(Stream&& other) noexcept {
    if (this != &other) {
        expires_never();
        socket_ = std::move(other.socket_);
        tls_ = std::move(other.tls_);
        deadline_ = std::move(other.deadline_);
        if (deadline_) {
            deadline_->socket = &lowest();
        }
    }
    return *this;
}

Stream::~Stream() { release_deadline(); }

void Stream::expires_after(std::chrono::milliseconds after) {
    if (!deadline_) {
        deadline_ = std::make_shared<Deadline>(get_executor());
    }
    deadline_->socket = &lowest();
    deadline_->passed = false;
    deadline_->timer.expires_after(after);
    deadline_->timer.async_wait([d = deadline_](boost::system::error_code ec) {
        if (ec || d->socket == nullptr) {
            return;
        }
        d->passed = true;
        boost::system::error_code ignored;
        d->socket->cancel(ignored);
    });
}

void Stream::expires_never() {
    if (deadline_) {
        deadline_->timer.cancel();
    }
}

void Stream::release_deadline() noexcept {
    if (deadline_) {
        deadline_->socket = nullptr;
        deadline_->timer.cancel();
        deadline_.reset();
    }
}

void Stream::close() noexcept {
    boost::system::error_code ec;
    lowest().close(ec);
}

awaitable<boost::system::error_code> Stream::handshake(std::chrono::milliseconds timeout) {
    if (!tls_) {
        co_return boost::system::error_code{};
    }
    expires_after(timeout);
    auto [ec] = co_await tls_->async_handshake(net::ssl::stream_base::server, use_nothrow);
    expires_never();
    co_return ec;
}

std::optional<Endpoint> endpoint_of(Socket& socket, bool remote) {
    boost::system::error_code ec;
    auto const ep = remote ? socket.remote_endpoint(ec) : socket.local_endpoint(ec);
    if (ec) {
        return std::nullopt;
    }
    return endpoint_from(ep);
}

std::optional<Endpoint> endpoint_from(net::generic::stream_protocol::endpoint const& ep) {
    auto const family = ep.protocol().family();
    if (family == AF_INET || family == AF_INET6) {
        net::ip::tcp::endpoint tcp;
        if (ep.size() > tcp.capacity()) {
            return std::nullopt;
        }
        std::memcpy(tcp.data(), ep.data(), ep.size());
        tcp.resize(ep.size());
        return Endpoint{tcp.address().to_string(), tcp.port()};
    }
    if (family == AF_UNIX) {
        // ASGI: a unix socket's server is [path, None]; an unnamed peer has no address.
        auto const* un = reinterpret_cast<sockaddr_un const*>(ep.data());
        auto const offset = offsetof(sockaddr_un, sun_path);
        if (ep.size() <= offset || un->sun_path[0] == '\0') {
            return std::nullopt;
        }
        std::size_t const len = strnlen(un->sun_path, ep.size() - offset);
        return Endpoint{std::string(un->sun_path, len), 0};
    }
    return std::nullopt;
}

namespace {

std::string openssl_error() {
    unsigned long const code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) {
        return "not PEM";
    }
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    return text;
}

void check_readable(char const* flag, std::string const& file) {
    std::error_code ec;
    if (file.empty()) {
        throw InvalidSetting(std::string(flag) + " is empty: give a PEM file");
    }
    if (std::filesystem::is_directory(file, ec)) {
        throw InvalidSetting(std::string(flag) + " '" + file + "' is a directory: give a PEM file");
    }
    std::ifstream in(file);
    if (!in) {
        throw InvalidSetting(std::string(flag) + " '" + file + "' cannot be read: " +
                             std::strerror(errno));
    }
}

} // namespace

std::unique_ptr<net::ssl::context> make_tls_context(std::string const& cert_file,
                                                    std::string const& key_file) {
    check_readable("--tls-cert", cert_file);
    check_readable("--tls-key", key_file);
    auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                     net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                     net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
    SSL_CTX* native = ctx->native_handle();
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1) {
        throw InvalidSetting("--tls-cert '" + cert_file +
                             "' is not a PEM certificate: " + openssl_error());
    }
    if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        throw InvalidSetting("--tls-key '" + key_file + "' is not a PEM private key: " +
                             openssl_error());
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        ERR_clear_error();
        throw InvalidSetting("--tls-key '" + key_file + "' does not match the certificate of "
                             "--tls-cert '" + cert_file + "'");
    }
    // A websocket over TLS is HTTP/1.1: say so to clients that offer ALPN (browsers do).
    SSL_CTX_set_alpn_select_cb(
        native,
        [](SSL*, unsigned char const** out, unsigned char* outlen, unsigned char const* in,
           unsigned int inlen, void*) -> int {
            static unsigned char const http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
            unsigned char* selected = nullptr;
            if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11, in, inlen) ==
                OPENSSL_NPN_NEGOTIATED) {
                *out = selected;
                return SSL_TLSEXT_ERR_OK;
            }
            return SSL_TLSEXT_ERR_NOACK;
        },
        nullptr);
    return ctx;
}

} // namespace canal::detail
