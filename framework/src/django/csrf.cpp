// Django's CSRF masking: letters and digits, each shifted by the mask's (mod 62).
#include <canal/django/csrf.hpp>

#include "detail/crypto.hpp"

#include <stdexcept>

namespace canal::django {

namespace {

constexpr std::string_view chars =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"; // CSRF_ALLOWED_CHARS
constexpr std::size_t secret_length = 32;

bool allowed(std::string_view s) {
    return s.find_first_not_of(chars) == std::string_view::npos;
}

// get_random_string(32, CSRF_ALLOWED_CHARS), without modulo bias.
std::string random_mask() {
    std::string mask;
    while (mask.size() < secret_length) {
        for (char c : canal::detail::random_bytes(64)) {
            auto const b = static_cast<unsigned char>(c);
            if (b < 248 && mask.size() < secret_length) { // 248 = 4 * 62
                mask.push_back(chars[b % chars.size()]);
            }
        }
    }
    return mask;
}

} // namespace

std::optional<std::string> csrf_secret_from_cookie(std::string_view cookie) {
    if (!allowed(cookie)) {
        return std::nullopt;
    }
    if (cookie.size() == 2 * secret_length) {
        return csrf_unmask(cookie);
    }
    if (cookie.size() == secret_length) {
        return std::string(cookie);
    }
    return std::nullopt;
}

std::string csrf_mask(std::string_view secret) {
    if (secret.size() != secret_length || !allowed(secret)) {
        throw std::invalid_argument("a Django CSRF secret is 32 letters and digits");
    }
    auto token = random_mask();
    for (std::size_t i = 0; i < secret_length; ++i) {
        auto const x = chars.find(secret[i]);
        auto const y = chars.find(token[i]);
        token.push_back(chars[(x + y) % chars.size()]);
    }
    return token;
}

std::string csrf_unmask(std::string_view token) {
    if (token.size() != 2 * secret_length || !allowed(token)) {
        throw std::invalid_argument("a masked Django CSRF token is 64 letters and digits");
    }
    std::string secret;
    for (std::size_t i = 0; i < secret_length; ++i) {
        auto const x = chars.find(token[secret_length + i]);
        auto const y = chars.find(token[i]);
        secret.push_back(chars[(x + chars.size() - y) % chars.size()]);
    }
    return secret;
}

} // namespace canal::django
