// OpenSSL helpers: random bytes, hex, constant-time compare.
#include "detail/crypto.hpp"

#include <canal/core/errors.hpp>

#include <boost/algorithm/hex.hpp>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <iterator>

namespace canal::detail {

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (n > 0 &&
        RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
        throw Error("OpenSSL RAND_bytes failed: no secure random numbers available");
    }
    return out;
}

std::string random_bytes_cached(std::size_t n) {
    constexpr std::size_t pool_size = 512;
    if (n > pool_size / 2) {
        return random_bytes(n);
    }
    thread_local unsigned char pool[pool_size];
    thread_local std::size_t left = 0;
    if (left < n) {
        if (RAND_bytes(pool, static_cast<int>(pool_size)) != 1) {
            throw Error("OpenSSL RAND_bytes failed: no secure random numbers available");
        }
        left = pool_size;
    }
    auto const* start = pool + (pool_size - left);
    std::string out(reinterpret_cast<char const*>(start), n);
    OPENSSL_cleanse(const_cast<unsigned char*>(start), n); // handed out once
    left -= n;
    return out;
}

std::string to_hex(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    boost::algorithm::hex_lower(bytes.begin(), bytes.end(), std::back_inserter(out));
    return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
    std::string out;
    out.reserve(hex.size() / 2);
    try {
        boost::algorithm::unhex(hex.begin(), hex.end(), std::back_inserter(out));
    } catch (boost::algorithm::hex_decode_error const&) {
        return std::nullopt; // not a hex digit, or an odd length
    }
    return out;
}

bool is_lower_hex(std::string_view s, std::size_t n) noexcept {
    if (s.size() != n) {
        return false;
    }
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace canal::detail
