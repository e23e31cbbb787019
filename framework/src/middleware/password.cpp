// Password hashing with OpenSSL's PKCS5_PBKDF2_HMAC (SHA-256), in Django's encoding.
#include <canal/middleware/password.hpp>

#include <canal/core/errors.hpp>

#include "detail/crypto.hpp"

#include <openssl/evp.h>

#include <array>
#include <charconv>
#include <optional>
#include <stdexcept>
#include <vector>

namespace canal {

namespace {

constexpr std::string_view algorithm = "pbkdf2_sha256";
constexpr unsigned max_iterations = 100'000'000;

// Django's get_random_string(22): letters and digits, without modulo bias.
std::string random_salt() {
    static constexpr std::string_view alphabet =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string salt;
    while (salt.size() < 22) {
        for (char c : detail::random_bytes(32)) {
            auto const b = static_cast<unsigned char>(c);
            if (b < 248 && salt.size() < 22) { // 248 = 4 * 62
                salt.push_back(alphabet[b % alphabet.size()]);
            }
        }
    }
    return salt;
}

std::string pbkdf2_base64(std::string_view password, std::string_view salt, unsigned iterations) {
    std::array<unsigned char, 32> key{};
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<unsigned char const*>(salt.data()),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(key.size()), key.data()) != 1) {
        throw Error("OpenSSL PKCS5_PBKDF2_HMAC failed");
    }
    std::array<unsigned char, 4 * ((32 + 2) / 3) + 1> out{};
    int const n = EVP_EncodeBlock(out.data(), key.data(), static_cast<int>(key.size()));
    return std::string(reinterpret_cast<char const*>(out.data()), static_cast<std::size_t>(n));
}

struct Parts {
    unsigned iterations = 0;
    std::string_view salt;
    std::string_view hash;
};

std::optional<Parts> split(std::string_view encoded) noexcept {
    std::array<std::string_view, 4> f;
    for (std::size_t i = 0; i < 4; ++i) {
        auto const dollar = encoded.find('$');
        if ((dollar == std::string_view::npos) != (i == 3)) {
            return std::nullopt;
        }
        f[i] = encoded.substr(0, dollar);
        encoded = i == 3 ? std::string_view{} : encoded.substr(dollar + 1);
    }
    Parts p;
    auto const* end = f[1].data() + f[1].size();
    auto [ptr, ec] = std::from_chars(f[1].data(), end, p.iterations);
    if (f[0] != algorithm || ec != std::errc{} || ptr != end || p.iterations == 0 ||
        p.iterations > max_iterations || f[2].empty() || f[3].empty()) {
        return std::nullopt;
    }
    p.salt = f[2];
    p.hash = f[3];
    return p;
}

} // namespace

std::string make_password(std::string_view password, unsigned iterations) {
    if (iterations == 0 || iterations > max_iterations) {
        throw std::invalid_argument("PBKDF2 iterations must be between 1 and 100000000");
    }
    auto const salt = random_salt();
    return std::string(algorithm) + "$" + std::to_string(iterations) + "$" + salt + "$" +
           pbkdf2_base64(password, salt, iterations);
}

bool check_password(std::string_view password, std::string_view encoded) {
    auto const parts = split(encoded);
    if (!parts) {
        return false;
    }
    return detail::constant_time_equal(pbkdf2_base64(password, parts->salt, parts->iterations),
                                       parts->hash);
}

unsigned password_iterations(std::string_view encoded) noexcept {
    auto const parts = split(encoded);
    return parts ? parts->iterations : 0;
}

} // namespace canal
