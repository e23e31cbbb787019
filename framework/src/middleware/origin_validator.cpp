// OriginValidator: Channels' origin pattern rules; refusal before accept (HTTP 403).
#include <canal/middleware/origin_validator.hpp>

#include "detail/ascii.hpp"

#include <canal/core/errors.hpp>

#include "core/run_routed.hpp"
#include "detail/log.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

namespace canal {

namespace {

std::string lower(std::string_view s) { return detail::ascii_lower(s); }

// The host and port of an authority (`user@host:port`), as urlparse's hostname and port.
// Returns false for a port that is not a number (Python raises on reading it).
bool split_netloc(std::string_view netloc, std::string& host, std::optional<unsigned>& port) {
    if (auto const at = netloc.rfind('@'); at != std::string_view::npos) {
        netloc.remove_prefix(at + 1);
    }
    std::string_view port_text;
    if (!netloc.empty() && netloc.front() == '[') {
        auto const close = netloc.find(']');
        if (close == std::string_view::npos) {
            return false;
        }
        host = lower(netloc.substr(1, close - 1));
        auto rest = netloc.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            port_text = rest.substr(1);
        }
    } else {
        auto const colon = netloc.find(':');
        host = lower(netloc.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = netloc.substr(colon + 1);
        }
    }
    if (!port_text.empty()) {
        unsigned value = 0;
        auto const* end = port_text.data() + port_text.size();
        auto [ptr, ec] = std::from_chars(port_text.data(), end, value);
        if (ec != std::errc{} || ptr != end || value > 65535) {
            return false;
        }
        port = value;
    }
    return true;
}

std::optional<unsigned> port_or_default(ParsedOrigin const& o) {
    if (o.port) {
        return o.port;
    }
    if (o.scheme == "http" || o.scheme == "ws") {
        return 80U;
    }
    if (o.scheme == "https" || o.scheme == "wss") {
        return 443U;
    }
    return std::nullopt;
}

} // namespace

std::optional<ParsedOrigin> parse_origin(std::string_view origin) {
    auto const sep = origin.find("://");
    if (sep == std::string_view::npos || sep == 0) {
        return std::nullopt;
    }
    ParsedOrigin out;
    out.scheme = lower(origin.substr(0, sep));
    for (char c : out.scheme) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
              c == '.')) {
            return std::nullopt;
        }
    }
    auto rest = origin.substr(sep + 3);
    auto const netloc = rest.substr(0, rest.find_first_of("/?#"));
    if (!split_netloc(netloc, out.hostname, out.port) || out.hostname.empty()) {
        return std::nullopt;
    }
    return out;
}

bool is_same_domain(std::string_view host, std::string_view pattern) {
    if (pattern.empty()) {
        return false;
    }
    auto const p = lower(pattern);
    if (p.front() == '.') {
        return host.ends_with(p) || host == std::string_view(p).substr(1);
    }
    return host == p;
}

bool match_allowed_origin(ParsedOrigin const& origin, std::string_view pattern) {
    if (origin.hostname.empty()) {
        return false;
    }
    if (pattern.find("://") == std::string_view::npos) {
        // Host only: urlparse("//" + pattern).hostname, or the pattern itself.
        std::string host;
        std::optional<unsigned> ignored;
        auto const netloc = pattern.substr(0, pattern.find_first_of("/?#"));
        if (!split_netloc(netloc, host, ignored) || host.empty()) {
            host = lower(pattern);
        }
        return is_same_domain(origin.hostname, host);
    }
    auto const parsed = parse_origin(lower(pattern));
    if (!parsed) {
        return false;
    }
    return parsed->scheme == origin.scheme && port_or_default(*parsed) == port_or_default(origin) &&
           is_same_domain(origin.hostname, parsed->hostname);
}

bool valid_origin(std::optional<std::string_view> origin,
                  std::vector<std::string> const& allowed_origins) {
    bool const star =
        std::find(allowed_origins.begin(), allowed_origins.end(), "*") != allowed_origins.end();
    if (star) {
        return true;
    }
    if (!origin) {
        return false;
    }
    auto const parsed = parse_origin(*origin);
    if (!parsed) {
        return false;
    }
    return std::any_of(allowed_origins.begin(), allowed_origins.end(),
                       [&](std::string const& p) { return match_allowed_origin(*parsed, p); });
}

OriginValidator::OriginValidator(Application inner, std::vector<std::string> allowed_origins)
    : BaseMiddleware(std::move(inner)), allowed_(std::move(allowed_origins)) {}

namespace {
// Channels' WebsocketDenier: wait for the connect event, then close before accepting.
awaitable<void> deny(Receive receive, Send send) {
    (void)co_await receive();
    Event close = WebsocketClose{1000, {}};
    co_await send(std::move(close));
}
} // namespace

// Not a coroutine: an allowed connection goes on in the inner application's frames, with no
// frame of this middleware (and its copy of the scope) kept for its whole life.
awaitable<void> OriginValidator::call(Scope scope, Receive receive, Send send) const {
    if (scope.type != "websocket") {
        return detail::fail_routing(std::make_exception_ptr(
            Error("OriginValidator is for websocket connections only, not '" + scope.type +
                  "': put it in the \"websocket\" branch of the ProtocolTypeRouter")));
    }
    // Channels reads the last Origin header.
    std::optional<std::string_view> origin;
    for (auto const& [name, value] : scope.headers) {
        if (name == "origin") {
            origin = value;
        }
    }
    if (valid_origin(origin, allowed_)) {
        try {
            return inner()(std::move(scope), std::move(receive), std::move(send));
        } catch (...) {
            return detail::fail_routing(std::current_exception());
        }
    }
    detail::log_warning("websocket " + detail::loggable(scope.path) + ": origin " +
                        (origin ? "'" + detail::loggable(*origin) + "'" : std::string("(none)")) +
                        " refused (not in the allowed origins): HTTP 403");
    return deny(std::move(receive), std::move(send));
}

AllowedHostsOriginValidator::AllowedHostsOriginValidator(Application inner,
                                                         std::vector<std::string> allowed_hosts)
    : OriginValidator(std::move(inner),
                      allowed_hosts.empty()
                          ? std::vector<std::string>{"localhost", "127.0.0.1", "[::1]"}
                          : std::move(allowed_hosts)) {}

} // namespace canal
