// OriginValidator and AllowedHostsOriginValidator: refuse websockets from other sites (HTTP 403).
#pragma once

#include <canal/middleware/base_middleware.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace canal {

/** An Origin header split up like Python's urlparse (host lower-cased, IPv6 without []). */
struct ParsedOrigin {
    /** Lower-cased scheme (`http`, `https`...). */
    std::string scheme;
    /** Lower-cased host name; an IPv6 address without its brackets. */
    std::string hostname;
    /** The port when the origin names one. */
    std::optional<unsigned> port;
};

/** Parses an `Origin` value (`scheme://host[:port]`); nothing for `null` or garbage. */
std::optional<ParsedOrigin> parse_origin(std::string_view origin);

/**
 * Django's is_same_domain(): `pattern` equals `host`, or starts with `.` and matches the
 * domain and every subdomain (`.example.com` matches `example.com` and `a.example.com`).
 */
bool is_same_domain(std::string_view host, std::string_view pattern);

/**
 * Channels' OriginValidator.match_allowed_origin(): a pattern with a scheme
 * (`http://.example.com:8000`) must match scheme, host (is_same_domain) and port (the
 * scheme's default when absent: 80 for http/ws, 443 for https/wss); a pattern without one
 * (`example.com`, `.example.com`, `[::1]`) matches the host only, on any scheme and port.
 * Unlike Python's urlparse, "has a scheme" means "contains `://`".
 */
bool match_allowed_origin(ParsedOrigin const& origin, std::string_view pattern);

/**
 * Channels' OriginValidator.valid_origin(): `*` allows everything, including no Origin
 * header at all; otherwise the origin must parse and match one pattern.
 */
bool valid_origin(std::optional<std::string_view> origin,
                  std::vector<std::string> const& allowed_origins);

/**
 * Lets a websocket through only when its Origin header is allowed
 * (channels.security.websocket.OriginValidator); others are refused at the handshake
 * (HTTP 403) and logged. Only for websocket scopes: others throw canal::Error.
 */
class OriginValidator : public BaseMiddleware {
public:
    /** Wraps `inner`, allowing `allowed_origins` (patterns as match_allowed_origin()). */
    OriginValidator(Application inner, std::vector<std::string> allowed_origins);

    /** The patterns. */
    [[nodiscard]] std::vector<std::string> const& allowed_origins() const noexcept {
        return allowed_;
    }

protected:
    awaitable<void> call(Scope scope, Receive receive, Send send) const override;

private:
    std::vector<std::string> allowed_;
};

/**
 * An OriginValidator allowing the hosts of Django's ALLOWED_HOSTS setting
 * (channels.security.websocket.AllowedHostsOriginValidator). Empty `allowed_hosts`
 * means Django's debug default: `localhost`, `127.0.0.1`, `[::1]`.
 */
class AllowedHostsOriginValidator : public OriginValidator {
public:
    /** Wraps `inner`, allowing `allowed_hosts` (host patterns, as in ALLOWED_HOSTS). */
    explicit AllowedHostsOriginValidator(Application inner,
                                         std::vector<std::string> allowed_hosts = {});
};

} // namespace canal
