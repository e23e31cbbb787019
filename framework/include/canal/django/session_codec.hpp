// Django's session data as its engines store it, and the session auth hash of a user: pure
// functions, no I/O (Django 3.2: django.contrib.sessions.backends, django.contrib.auth).
#pragma once

#include <canal/django/signing.hpp>

#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace canal::django {

/** The salt of the `db`, `cached_db` and `cache` engines' data (SessionBase.key_salt). */
inline constexpr std::string_view session_store_salt = "django.contrib.sessions.SessionStore";

/** The salt of the `signed_cookies` engine's cookie. */
inline constexpr std::string_view signed_cookies_salt =
    "django.contrib.sessions.backends.signed_cookies";

/** The session key holding the user's primary key, as text (auth.SESSION_KEY). */
inline constexpr std::string_view auth_user_id_key = "_auth_user_id";
/** The session key holding the backend that logged the user in (auth.BACKEND_SESSION_KEY). */
inline constexpr std::string_view auth_user_backend_key = "_auth_user_backend";
/** The session key holding the user's session auth hash (auth.HASH_SESSION_KEY). */
inline constexpr std::string_view auth_user_hash_key = "_auth_user_hash";

/**
 * SessionBase.decode() of the `db` and `cache` engines: the session of `session_data`
 * (signing.loads with session_store_salt, no age limit; or the pre-3.1 format, base64 of
 * `sha1-hex:json`), or nothing where Django would give an empty session: a signature that
 * does not match `secret`, data that does not decode, or JSON that is not an object.
 */
std::optional<boost::json::object> decode_session_data(std::string_view session_data,
                                                       std::string_view secret);

/**
 * The `signed_cookies` engine's load(): the session in the cookie `value`, signed with
 * `secret` and signed_cookies_salt at most `max_age` (SESSION_COOKIE_AGE) before `now`; or
 * nothing where Django would give an empty session (bad signature, expired, bad data).
 */
std::optional<boost::json::object> decode_signed_cookie(std::string_view value,
                                                       std::string_view secret,
                                                       std::chrono::seconds max_age,
                                                       std::chrono::system_clock::time_point now);

/**
 * AbstractBaseUser.get_session_auth_hash(): hex of salted_hmac with the key salt
 * "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash", the user's `password`
 * field (the stored hash) and `secret`, in `algorithm` (Django 3.2's DEFAULT_HASHING_ALGORITHM,
 * sha256; sha1 is _legacy_get_session_auth_hash()).
 */
std::string session_auth_hash(std::string_view password, std::string_view secret,
                              Algorithm algorithm = Algorithm::sha256);

/**
 * The check of auth.get_user(): true when `session_hash` (the session's `_auth_user_hash`) is
 * non-empty and equals the SHA-256 hash or the legacy SHA-1 hash of `password`, compared in
 * constant time. False after a password change (or any change of the `password` field).
 */
bool session_auth_hash_matches(std::string_view session_hash, std::string_view password,
                               std::string_view secret);

} // namespace canal::django
