// Password hashing: PBKDF2-HMAC-SHA256 with a per-password random salt (Django's format).
#pragma once

#include <string>
#include <string_view>

namespace canal {

/** PBKDF2 iterations used by make_password() unless told otherwise. */
inline constexpr unsigned default_password_iterations = 260000;

/**
 * Hashes `password` as `pbkdf2_sha256$ITERATIONS$SALT$HASH` (Django's encoding: the salt is
 * 22 random letters and digits, the hash the base64 of 32 bytes of PBKDF2-HMAC-SHA256).
 * Throws std::invalid_argument when `iterations` is 0 and canal::Error when OpenSSL fails.
 */
std::string make_password(std::string_view password,
                          unsigned iterations = default_password_iterations);

/**
 * True when `password` matches `encoded` (made by make_password() or Django's
 * PBKDF2PasswordHasher). Compares in constant time; a malformed `encoded` is false.
 */
bool check_password(std::string_view password, std::string_view encoded);

/** The iteration count stored in `encoded`, or 0 when it is malformed. */
unsigned password_iterations(std::string_view encoded) noexcept;

} // namespace canal
