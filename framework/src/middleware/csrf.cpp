// CSRF secrets and masked tokens.
#include <canal/middleware/csrf.hpp>

#include "detail/crypto.hpp"

namespace canal {

std::string csrf_new_secret() { return detail::to_hex(detail::random_bytes(32)); }

bool csrf_is_valid_secret(std::string_view secret) noexcept {
    return detail::is_lower_hex(secret, 64);
}

std::string csrf_mask(std::string_view secret) {
    auto const raw = detail::from_hex(secret);
    if (!raw || raw->size() != 32) {
        return {};
    }
    auto const mask = detail::random_bytes(32);
    std::string masked(32, '\0');
    for (std::size_t i = 0; i < 32; ++i) {
        masked[i] = static_cast<char>((*raw)[i] ^ mask[i]);
    }
    return detail::to_hex(mask) + detail::to_hex(masked);
}

bool csrf_check(std::string_view secret, std::string_view token) noexcept {
    try {
        if (!csrf_is_valid_secret(secret) || !detail::is_lower_hex(token, 128)) {
            return false;
        }
        auto const mask = detail::from_hex(token.substr(0, 64));
        auto const masked = detail::from_hex(token.substr(64));
        std::string unmasked(32, '\0');
        for (std::size_t i = 0; i < 32; ++i) {
            unmasked[i] = static_cast<char>((*masked)[i] ^ (*mask)[i]);
        }
        return detail::constant_time_equal(detail::to_hex(unmasked), secret);
    } catch (...) {
        return false; // allocation failure: refuse rather than throw from a noexcept check
    }
}

} // namespace canal
