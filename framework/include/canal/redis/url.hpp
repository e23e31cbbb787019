// Url: where a Redis server is, parsed from `redis://[[user]:password@]host[:port][/db]`
// (or `rediss://` for TLS).
#pragma once

#include <string>
#include <string_view>

namespace canal::redis {

/** A Redis server address with its credentials and database number. */
struct Url {
    /** Host name or IP address (IPv6 without brackets). */
    std::string host = "127.0.0.1";
    /** TCP port. */
    unsigned short port = 6379;
    /** ACL user name for `AUTH user password`; empty for `AUTH password`. */
    std::string username;
    /** Password sent with AUTH after connecting; empty: no AUTH. */
    std::string password;
    /** Database selected with SELECT after connecting. */
    int db = 0;
    /** `rediss://`: TLS over the TCP connection. */
    bool tls = false;
    /**
     * TLS: check the server's certificate and that it names `host` (the default;
     * `?ssl_cert_reqs=none` turns it off, as in redis-py's URLs).
     */
    bool verify_peer = true;
    /** TLS: the CA certificates (PEM) to check it against (`?ssl_ca_certs=PATH`); empty: the system's. */
    std::string ca_file;

    /**
     * Parses `redis://[[user]:password@]host[:port][/db]` (percent-encoded credentials,
     * IPv6 hosts in brackets), or `rediss://...` with the query options `ssl_cert_reqs`
     * (`required`, the default, or `none`) and `ssl_ca_certs` (a PEM file).
     *
     * @throws std::invalid_argument naming the URL and what is wrong with it.
     */
    static Url parse(std::string_view url);

    /** `host:port`, the form used in error messages. */
    [[nodiscard]] std::string address() const;

    /** The URL again, with the password replaced by `***` (safe to log). */
    [[nodiscard]] std::string redacted() const;
};

} // namespace canal::redis
