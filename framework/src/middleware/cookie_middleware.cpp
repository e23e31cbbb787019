// CookieMiddleware: Cookie header parsing (Django's rules) and Set-Cookie formatting.
#include <canal/middleware/cookie_middleware.hpp>

#include "detail/ascii.hpp"

#include <array>
#include <ctime>
#include <stdexcept>

namespace canal {

namespace {

// Python's str.strip(): every ASCII whitespace character.
std::string_view trim(std::string_view s) noexcept {
    return detail::trim(s, " \t\r\n\f\v");
}

// Python's http.cookies._unquote: only a value wrapped in double quotes is unescaped.
std::string unquote(std::string_view v) {
    if (v.size() < 2 || v.front() != '"' || v.back() != '"') {
        return std::string(v);
    }
    v = v.substr(1, v.size() - 2);
    std::string out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] != '\\' || i + 1 >= v.size()) {
            out.push_back(v[i]);
            continue;
        }
        auto octal = [](char c) { return c >= '0' && c <= '7'; };
        if (i + 3 < v.size() && v[i + 1] >= '0' && v[i + 1] <= '3' && octal(v[i + 2]) &&
            octal(v[i + 3])) {
            out.push_back(static_cast<char>(((v[i + 1] - '0') << 6) | ((v[i + 2] - '0') << 3) |
                                            (v[i + 3] - '0')));
            i += 3;
        } else {
            out.push_back(v[i + 1]);
            i += 1;
        }
    }
    return out;
}

bool is_token_char(char c) noexcept {
    auto const u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
        return false;
    }
    return std::string_view("()<>@,;:\\\"/[]?={}").find(c) == std::string_view::npos;
}

bool is_cookie_value_char(char c) noexcept {
    auto const u = static_cast<unsigned char>(c);
    // RFC 6265 cookie-octet; bytes >= 0x80 are allowed through for UTF-8 values (as browsers do).
    return u > 0x20 && u != 0x7f && c != '"' && c != ',' && c != ';' && c != '\\';
}

std::string http_date(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::array<char, 64> buf{};
    auto const n = std::strftime(buf.data(), buf.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return std::string(buf.data(), n);
}

} // namespace

Cookies parse_cookies(std::string_view header) {
    Cookies out;
    while (true) {
        auto const semi = header.find(';');
        auto const chunk = header.substr(0, semi);
        std::string_view key;
        std::string_view value;
        if (auto const eq = chunk.find('='); eq != std::string_view::npos) {
            key = trim(chunk.substr(0, eq));
            value = trim(chunk.substr(eq + 1));
        } else {
            // An empty name, as Django (and Mozilla bug 169091) assume.
            value = trim(chunk);
        }
        if (!key.empty() || !value.empty()) {
            out.insert_or_assign(std::string(key), unquote(value));
        }
        if (semi == std::string_view::npos) {
            break;
        }
        header.remove_prefix(semi + 1);
    }
    return out;
}

std::string make_set_cookie(std::string_view name, std::string_view value,
                            CookieOptions const& options) {
    if (name.empty()) {
        throw std::invalid_argument("cookie name is empty");
    }
    for (char c : name) {
        if (!is_token_char(c)) {
            throw std::invalid_argument("cookie name '" + std::string(name) +
                                        "' is invalid: use letters, digits and !#$%&'*+-.^_`|~");
        }
    }
    for (char c : value) {
        if (!is_cookie_value_char(c)) {
            throw std::invalid_argument("value of cookie '" + std::string(name) +
                                        "' has a character a cookie cannot carry (space, "
                                        "control, '\"', ',', ';' or '\\'): encode it first");
        }
    }
    std::string out;
    out.append(name).append("=").append(value);
    if (options.max_age) {
        auto const secs = options.max_age->count();
        out += "; expires=" + http_date(std::time(nullptr) + static_cast<std::time_t>(secs));
        out += "; Max-Age=" + std::to_string(secs);
    }
    if (!options.path.empty()) {
        out += "; Path=" + options.path;
    }
    if (!options.domain.empty()) {
        out += "; Domain=" + options.domain;
    }
    if (options.secure) {
        out += "; Secure";
    }
    if (options.http_only) {
        out += "; HttpOnly";
    }
    if (!options.same_site.empty()) {
        auto const& s = options.same_site;
        if (s != "Lax" && s != "Strict" && s != "None") {
            throw std::invalid_argument("SameSite must be 'Lax', 'Strict' or 'None', not '" + s +
                                        "'");
        }
        out += "; SameSite=" + s;
    }
    return out;
}

void set_cookie(HttpResponseStart& response, std::string_view name, std::string_view value,
                CookieOptions const& options) {
    response.headers.emplace_back("set-cookie", make_set_cookie(name, value, options));
}

void delete_cookie(HttpResponseStart& response, std::string_view name, std::string_view path,
                   std::string_view domain) {
    CookieOptions options;
    options.path = std::string(path);
    options.domain = std::string(domain);
    options.same_site.clear();
    auto header = make_set_cookie(name, "", options);
    header += "; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0";
    response.headers.emplace_back("set-cookie", std::move(header));
}

bool is_secure(Scope const& scope) noexcept {
    return scope.scheme == "https" || scope.scheme == "wss";
}

awaitable<void> CookieMiddleware::populate_scope(Scope& scope) const {
    std::string joined;
    bool any = false;
    for (auto const& [name, value] : scope.headers) {
        if (name == "cookie") {
            if (any) {
                joined += "; ";
            }
            joined += value;
            any = true;
        }
    }
    scope.cookies = parse_cookies(joined);
    co_return;
}

} // namespace canal
