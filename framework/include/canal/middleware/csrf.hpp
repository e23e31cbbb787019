// CSRF tokens for HTML forms: a secret in the `csrftoken` cookie, a masked copy in the form.
#pragma once

#include <string>
#include <string_view>

namespace canal {

/** The cookie holding the CSRF secret (Django's CSRF_COOKIE_NAME). */
inline constexpr char const* csrf_cookie_name = "csrftoken";
/** The form field holding the masked token (Django's name). */
inline constexpr char const* csrf_field_name = "csrfmiddlewaretoken";

/** A new CSRF secret: 32 random bytes as 64 lower-case hex digits. */
std::string csrf_new_secret();

/** True for what csrf_new_secret() makes. */
bool csrf_is_valid_secret(std::string_view secret) noexcept;

/**
 * The token to put in a form for `secret`: a fresh random mask and the secret XOR the
 * mask (128 hex digits), so that the page never shows the same bytes twice (BREACH).
 */
std::string csrf_mask(std::string_view secret);

/**
 * True when `token` (from a form) unmasks to `secret` (from the cookie). Constant time;
 * false for any malformed input.
 */
bool csrf_check(std::string_view secret, std::string_view token) noexcept;

} // namespace canal
