#include "server/listener.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/system/system_error.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace canal::detail {

namespace {

using boost::system::error_code;
namespace fs = std::filesystem;

[[noreturn]] void fail(error_code ec, std::string const& what) {
    throw boost::system::system_error(ec, what);
}

} // namespace

Listening listen_tcp(std::string const& host_text, unsigned short port, std::string const& flag,
                     Acceptor& acc) {
    error_code ec;
    auto address = net::ip::make_address(host_text, ec);
    if (ec) {
        throw InvalidSetting(flag + " '" + host_text + "' is not an IP address: " + ec.message());
    }
    net::ip::tcp::endpoint const endpoint(address, port);
    std::string const where = host_text + ":" + std::to_string(port);
    acc.open(net::generic::stream_protocol(endpoint.protocol().family(), IPPROTO_TCP), ec);
    if (ec) {
        fail(ec, "cannot open a socket for " + where);
    }
    acc.set_option(net::socket_base::reuse_address(true), ec);
    acc.bind(net::generic::stream_protocol::endpoint(endpoint), ec);
    if (ec) {
        fail(ec, "cannot listen on " + where);
    }
    acc.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        fail(ec, "cannot listen on " + where);
    }
    Listening l;
    net::ip::tcp::endpoint bound;
    auto const local = acc.local_endpoint(ec);
    if (!ec && local.size() <= bound.capacity()) {
        std::memcpy(bound.data(), local.data(), local.size());
        bound.resize(local.size());
        l.port = bound.port();
    }
    std::string const host = address.is_v6() ? "[" + host_text + "]" : host_text;
    l.description = "http://" + host + ":" + std::to_string(l.port) + "/";
    return l;
}

namespace {

// An existing file at the socket's path: a socket nobody listens on (left by a process that
// died) is replaced; a live one, or any other file, is not touched.
void clear_stale_socket(std::string const& path) {
    std::error_code fec;
    auto const status = fs::symlink_status(path, fec);
    if (fec || !fs::exists(status)) {
        return;
    }
    if (!fs::is_socket(status)) {
        throw InvalidSetting("--unix-socket '" + path +
                             "' exists and is not a socket: remove it or choose another path");
    }
    net::io_context probe_ctx(1);
    net::local::stream_protocol::socket probe(probe_ctx);
    error_code ec;
    probe.connect(net::local::stream_protocol::endpoint(path), ec);
    if (!ec) {
        fail(net::error::address_in_use,
             "cannot listen on unix socket '" + path + "': another process is listening on it");
    }
    ::unlink(path.c_str());
}

Listening listen_unix(Settings const& s, Acceptor& acc) {
    auto const& path = s.unix_socket;
    if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
        throw InvalidSetting("--unix-socket '" + path + "' is too long for a unix socket (at most " +
                             std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes)");
    }
    auto const dir = fs::path(path).parent_path();
    std::error_code fec;
    if (!dir.empty() && !fs::is_directory(dir, fec)) {
        throw InvalidSetting("--unix-socket '" + path + "': the directory '" + dir.string() +
                             "' does not exist");
    }
    clear_stale_socket(path);
    error_code ec;
    acc.open(net::generic::stream_protocol(AF_UNIX, 0), ec);
    if (ec) {
        fail(ec, "cannot open a unix socket for '" + path + "'");
    }
    acc.bind(net::generic::stream_protocol::endpoint(net::local::stream_protocol::endpoint(path)),
             ec);
    if (ec) {
        fail(ec, "cannot listen on unix socket '" + path + "'");
    }
    Listening l;
    l.inet = false;
    l.created = path;
    if (s.unix_socket_mode != 0 && ::chmod(path.c_str(), s.unix_socket_mode) != 0) {
        auto const err = errno;
        remove_unix_socket(path);
        fail(error_code(err, boost::system::system_category()),
             "cannot set the mode of unix socket '" + path + "'");
    }
    acc.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
        remove_unix_socket(path);
        fail(ec, "cannot listen on unix socket '" + path + "'");
    }
    l.description = "unix:" + path;
    return l;
}

Listening listen_fd(Settings const& s, Acceptor& acc) {
    int const fd = s.fd;
    std::string const flag = "--fd " + std::to_string(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        throw InvalidSetting(flag + " is not an open descriptor: " + std::strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode)) {
        throw InvalidSetting(flag + " is not a socket");
    }
    int type = 0;
    int listening = 0;
    socklen_t len = sizeof type;
    ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
    len = sizeof listening;
    ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
    if (type != SOCK_STREAM || listening == 0) {
        throw InvalidSetting(flag + " is not a listening stream socket (it must be bound and "
                                    "listening, as systemd's socket activation passes it)");
    }
    sockaddr_storage addr{};
    len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw InvalidSetting(flag + ": " + std::strerror(errno));
    }
    int const family = addr.ss_family;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX) {
        throw InvalidSetting(flag + " is neither a TCP nor a unix socket");
    }
    error_code ec;
    acc.assign(net::generic::stream_protocol(family, family == AF_UNIX ? 0 : IPPROTO_TCP), fd,
               ec);
    if (ec) {
        fail(ec, "cannot use " + flag);
    }
    Listening l;
    l.inet = family != AF_UNIX;
    if (l.inet) {
        auto const* in = reinterpret_cast<sockaddr_in const*>(&addr);
        l.port = ntohs(in->sin_port); // sin6_port sits at the same offset
    }
    l.description = "fd " + std::to_string(fd);
    return l;
}

} // namespace

Listening open_listener(Settings const& s, Acceptor& acceptor) {
    if (s.fd >= 0) {
        return listen_fd(s, acceptor);
    }
    if (!s.unix_socket.empty()) {
        return listen_unix(s, acceptor);
    }
    return listen_tcp(s.host, s.port, "--host", acceptor);
}

void remove_unix_socket(std::string const& path) noexcept {
    if (!path.empty()) {
        ::unlink(path.c_str());
    }
}

} // namespace canal::detail
