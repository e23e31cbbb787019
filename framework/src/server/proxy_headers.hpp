// Behind a reverse proxy (sans-I/O): the client address, port and scheme a trusted proxy
// reports in X-Forwarded-For, X-Forwarded-Port and X-Forwarded-Proto, as daphne's
// --proxy-headers does, but only from the proxies the server trusts.
#pragma once

#include <canal/core/scope.hpp>

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace canal::detail {

/** The addresses whose X-Forwarded-* headers are believed (CIDR blocks). */
class TrustedProxies {
public:
    /**
     * Parses `blocks` (`127.0.0.1/32`, `10.0.0.0/8`, `::1/128`, or a bare address).
     * @throws InvalidSetting naming the first one that is not an address or block.
     */
    explicit TrustedProxies(std::vector<std::string> const& blocks);

    /** True when `address` (text) is an IP address inside one of the blocks. */
    [[nodiscard]] bool contains(std::string_view address) const;

private:
    std::vector<std::variant<boost::asio::ip::network_v4, boost::asio::ip::network_v6>> blocks_;
};

/**
 * When the connection comes from a trusted proxy, replaces `scope.client` with the address in
 * X-Forwarded-For (the right-most one that is not itself a trusted proxy, so that a client
 * cannot choose its address by sending the header itself; the left-most when all are
 * trusted), its port with X-Forwarded-Port (0 when absent), and `scope.scheme` with
 * X-Forwarded-Proto (`https`/`wss` → secure, `http`/`ws` → plain). A `local_peer` (a
 * connection on a unix socket, which only local processes allowed by the file's permissions
 * can open) counts as a trusted proxy. Headers from anyone else, and malformed values, are
 * ignored.
 */
void apply_proxy_headers(Scope& scope, TrustedProxies const& trusted, bool local_peer = false);

} // namespace canal::detail
