// CookieMiddleware: scope.cookies from the Cookie header, and Set-Cookie helpers for responses.
#pragma once

#include <canal/middleware/base_middleware.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace canal {

/** Cookies by name, as in `scope.cookies`. */
using Cookies = std::map<std::string, std::string, std::less<>>;

/**
 * Parses a Cookie header value the way Django's `parse_cookie` does: `;`-separated
 * `name=value` pairs, spaces around both trimmed, a chunk without `=` taken as a value with
 * an empty name, double-quoted values unquoted (`\"`, `\\`, `\ooo` octal escapes). When a
 * name repeats, the last value wins. Never throws on malformed input: garbage gives garbage
 * names or nothing, never an error.
 */
Cookies parse_cookies(std::string_view header);

/** Attributes of a cookie set with set_cookie(). */
struct CookieOptions {
    /** `Max-Age` in seconds (an `Expires` date is added too); none: a browser-session cookie. */
    std::optional<std::chrono::seconds> max_age;
    /** `Path`. */
    std::string path = "/";
    /** `Domain`; empty: none (the cookie goes to the host that set it only). */
    std::string domain;
    /** `Secure`: only sent over TLS. */
    bool secure = false;
    /** `HttpOnly`: not readable from JavaScript. */
    bool http_only = false;
    /** `SameSite`: `"Lax"` (default), `"Strict"`, `"None"`, or empty to leave it out. */
    std::string same_site = "Lax";
};

/**
 * The `Set-Cookie` header value for `name=value` with `options`.
 * Throws std::invalid_argument for a name that is not an RFC 6265 token or a value with
 * characters a cookie value cannot carry (controls, space, `"`, `,`, `;`, `\`).
 */
std::string make_set_cookie(std::string_view name, std::string_view value,
                            CookieOptions const& options = {});

/** Adds a `set-cookie` header to a response start. Throws as make_set_cookie(). */
void set_cookie(HttpResponseStart& response, std::string_view name, std::string_view value,
                CookieOptions const& options = {});

/** Adds a `set-cookie` header that deletes the cookie (empty value, `Max-Age=0`, 1970). */
void delete_cookie(HttpResponseStart& response, std::string_view name, std::string_view path = "/",
                   std::string_view domain = {});

/** True when the connection came over TLS (`https` or `wss`): cookies should be `Secure`. */
[[nodiscard]] bool is_secure(Scope const& scope) noexcept;

/**
 * Fills `scope.cookies` from the request's Cookie header(s) (channels.sessions.CookieMiddleware).
 * Several Cookie headers are read as one joined with `; `.
 */
class CookieMiddleware : public BaseMiddleware {
public:
    using BaseMiddleware::BaseMiddleware;

protected:
    awaitable<void> populate_scope(Scope& scope) const override;
};

} // namespace canal
