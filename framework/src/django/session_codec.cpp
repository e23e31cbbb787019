// Django's session data (signed JSON, and the pre-3.1 legacy form) and session auth hashes.
#include <canal/django/session_codec.hpp>

#include "detail/crypto.hpp"

#include <boost/json/parse.hpp>

namespace canal::django {

namespace {

constexpr std::string_view auth_hash_salt =
    "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash";
// SessionBase._hash(): "django.contrib.sessions" + the class name, with no dot.
constexpr std::string_view legacy_session_salt = "django.contrib.sessionsSessionStore";

std::optional<boost::json::object> as_object(boost::json::value value) {
    if (!value.is_object()) {
        return std::nullopt;
    }
    return std::move(value.get_object());
}

// base64.b64decode() of the standard alphabet, padding required.
std::optional<std::string> standard_b64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::string urlsafe(text);
    for (char& c : urlsafe) {
        if (c == '+') {
            c = '-';
        } else if (c == '/') {
            c = '_';
        } else if (c == '-' || c == '_') {
            return std::nullopt;
        }
    }
    return b64_decode(urlsafe);
}

// SessionBase._legacy_decode(): base64("<sha1 hex of salted_hmac>:<json>").
std::optional<boost::json::object> legacy_decode(std::string_view session_data,
                                                 std::string_view secret) {
    auto const decoded = standard_b64_decode(session_data);
    if (!decoded) {
        return std::nullopt;
    }
    auto const colon = decoded->find(':');
    if (colon == std::string::npos) {
        return std::nullopt;
    }
    std::string_view const hash = std::string_view(*decoded).substr(0, colon);
    std::string_view const serialized = std::string_view(*decoded).substr(colon + 1);
    auto const expected =
        canal::detail::to_hex(salted_hmac(legacy_session_salt, serialized, secret, Algorithm::sha1));
    if (!canal::detail::constant_time_equal(hash, expected)) {
        return std::nullopt;
    }
    boost::system::error_code ec;
    auto value = boost::json::parse(serialized, ec);
    if (ec) {
        return std::nullopt;
    }
    return as_object(std::move(value));
}

} // namespace

std::optional<boost::json::object> decode_session_data(std::string_view session_data,
                                                       std::string_view secret) {
    try {
        // No age limit: the engine's own expiry (the row's expire_date, the cache's TTL) rules.
        return as_object(loads(session_data, secret, session_store_salt, std::nullopt,
                               std::chrono::system_clock::now()));
    } catch (Error const&) {
        // As Django: whatever does not load in the current format may be the legacy one.
    }
    return legacy_decode(session_data, secret);
}

std::optional<boost::json::object> decode_signed_cookie(std::string_view value,
                                                       std::string_view secret,
                                                       std::chrono::seconds max_age,
                                                       std::chrono::system_clock::time_point now) {
    try {
        return as_object(loads(value, secret, signed_cookies_salt, max_age, now));
    } catch (Error const&) {
        return std::nullopt;
    }
}

std::string session_auth_hash(std::string_view password, std::string_view secret,
                              Algorithm algorithm) {
    return canal::detail::to_hex(salted_hmac(auth_hash_salt, password, secret, algorithm));
}

bool session_auth_hash_matches(std::string_view session_hash, std::string_view password,
                               std::string_view secret) {
    if (session_hash.empty()) {
        return false;
    }
    bool const sha256 = canal::detail::constant_time_equal(
        session_hash, session_auth_hash(password, secret, Algorithm::sha256));
    bool const sha1 = canal::detail::constant_time_equal(
        session_hash, session_auth_hash(password, secret, Algorithm::sha1));
    return sha256 || sha1;
}

} // namespace canal::django
