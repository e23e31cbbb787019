// Where a server listens: a TCP address (Settings::host, port), a unix-domain socket
// (Settings::unix_socket) or a listening descriptor it inherited (Settings::fd, as systemd's
// socket activation passes).
#pragma once

#include <canal/core/net.hpp>
#include <canal/server/settings.hpp>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include <string>

namespace canal::detail {

using Acceptor = net::basic_socket_acceptor<net::generic::stream_protocol>;

/** What open_listener() opened. */
struct Listening {
    /** TCP (an address and a port), not a unix socket. */
    bool inet = true;
    /** The TCP port bound (0 for a unix socket). */
    unsigned short port = 0;
    /** The unix socket file created (removed by remove_unix_socket()), or empty. */
    std::string created;
    /** For the start-up line: `http://127.0.0.1:8000/`, `unix:/run/canal.sock`, `fd 3 (...)`. */
    std::string description;
};

/**
 * Opens `acceptor` (closed, on its executor) where `s` says, listening. Configuration that
 * cannot work throws InvalidSetting naming the flag (a unix socket in a missing directory or
 * where another file is, a descriptor that is not a listening stream socket); failures of the
 * system (an address in use) throw boost::system::system_error naming the address.
 */
Listening open_listener(Settings const& s, Acceptor& acceptor);

/**
 * Opens `acceptor` listening on TCP `host` (an IP address) and `port` (0: a free one); a host
 * that is not an address throws InvalidSetting naming `flag`.
 */
Listening listen_tcp(std::string const& host, unsigned short port, std::string const& flag,
                     Acceptor& acceptor);

/** Removes a unix socket file open_listener() created (nothing for an empty path). */
void remove_unix_socket(std::string const& path) noexcept;

} // namespace canal::detail
