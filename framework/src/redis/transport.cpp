// Transport: plain TCP or TLS to a Redis server.
#include "redis/transport.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>

#include <openssl/ssl.h>

#include <stdexcept>

namespace canal::redis::detail {

std::shared_ptr<net::ssl::context> make_tls_context(Url const& url) {
    if (!url.tls) {
        return nullptr;
    }
    auto context = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
    context->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                         net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                         net::ssl::context::no_tlsv1_1);
    if (!url.verify_peer) {
        context->set_verify_mode(net::ssl::verify_none);
        return context;
    }
    context->set_verify_mode(net::ssl::verify_peer);
    boost::system::error_code ec;
    if (url.ca_file.empty()) {
        context->set_default_verify_paths(ec);
    } else {
        context->load_verify_file(url.ca_file, ec);
    }
    if (ec) {
        throw std::invalid_argument("Redis URL " + url.redacted() + ": cannot load the CA " +
                                    (url.ca_file.empty() ? std::string("certificates")
                                                         : "file '" + url.ca_file + "'") +
                                    ": " + ec.message());
    }
    return context;
}

Transport::Transport(net::any_io_executor const& ex, std::shared_ptr<net::ssl::context> tls)
    : socket_(ex), context_(std::move(tls)) {
    if (context_) {
        tls_ = std::make_unique<net::ssl::stream<net::ip::tcp::socket&>>(socket_, *context_);
    }
}

awaitable<boost::system::error_code> Transport::handshake(Url const& url) {
    if (!tls_) {
        co_return boost::system::error_code{};
    }
    boost::system::error_code ec;
    net::ip::make_address(url.host, ec);
    bool const is_name = static_cast<bool>(ec); // SNI takes host names, not addresses
    if (is_name) {
        SSL_set_tlsext_host_name(tls_->native_handle(), url.host.c_str());
    }
    if (url.verify_peer) {
        tls_->set_verify_callback(net::ssl::host_name_verification(url.host));
    }
    auto [hec] = co_await tls_->async_handshake(net::ssl::stream_base::client, use_nothrow);
    co_return hec;
}

awaitable<std::tuple<boost::system::error_code, std::size_t>>
Transport::read_some(net::mutable_buffer buffer) {
    if (tls_) {
        co_return co_await tls_->async_read_some(buffer, use_nothrow);
    }
    co_return co_await socket_.async_read_some(buffer, use_nothrow);
}

awaitable<std::tuple<boost::system::error_code, std::size_t>>
Transport::write(net::const_buffer buffer) {
    if (tls_) {
        co_return co_await net::async_write(*tls_, buffer, use_nothrow);
    }
    co_return co_await net::async_write(socket_, buffer, use_nothrow);
}

void Transport::close() noexcept {
    boost::system::error_code ignored;
    socket_.close(ignored);
}

} // namespace canal::redis::detail
