// Fernet and MultiFernet over OpenSSL, byte for byte as python3-cryptography's fernet.py.
#include "layers/fernet.hpp"

#include "detail/crypto.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <array>
#include <ctime>
#include <memory>
#include <stdexcept>

namespace canal::detail {

namespace {

constexpr unsigned char version_byte = 0x80;
constexpr std::size_t key_size = 32;
constexpr std::size_t half_key = 16;
constexpr std::size_t iv_size = 16;
constexpr std::size_t block_size = 16;
constexpr std::size_t hmac_size = 32;
constexpr std::size_t header_size = 1 + 8 + iv_size;
// cryptography's _MAX_CLOCK_SKEW: a token from further in the future is refused (with a ttl).
constexpr std::uint64_t max_clock_skew = 60;

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sextet(char c) noexcept {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

unsigned char const* bytes_of(std::string_view s) noexcept {
    return reinterpret_cast<unsigned char const*>(s.data());
}

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

CipherCtx new_cipher_ctx() {
    CipherCtx ctx(EVP_CIPHER_CTX_new());
    if (!ctx) {
        throw Error("OpenSSL EVP_CIPHER_CTX_new failed");
    }
    return ctx;
}

std::uint64_t now_seconds() {
    return static_cast<std::uint64_t>(std::time(nullptr));
}

// The checks cryptography makes before the signature: base64, version byte, length, age.
std::string token_bytes(std::string_view token, std::optional<std::chrono::seconds> ttl) {
    auto data = urlsafe_b64decode(token);
    if (!data) {
        throw InvalidToken("Fernet token is not URL-safe base64");
    }
    if (data->empty() || static_cast<unsigned char>((*data)[0]) != version_byte) {
        throw InvalidToken("Fernet token does not start with the version byte 0x80");
    }
    // Every token has at least one cipher block: PKCS7 always pads.
    if (data->size() < header_size + block_size + hmac_size ||
        (data->size() - header_size - hmac_size) % block_size != 0) {
        throw InvalidToken("Fernet token has a wrong length (" + std::to_string(data->size()) +
                           " bytes)");
    }
    if (ttl) {
        std::uint64_t timestamp = 0;
        for (std::size_t i = 1; i <= 8; ++i) {
            timestamp = (timestamp << 8) | static_cast<unsigned char>((*data)[i]);
        }
        auto const now = now_seconds();
        auto const limit = static_cast<std::uint64_t>(std::max<std::int64_t>(0, ttl->count()));
        if (timestamp + limit < now) {
            throw InvalidToken("Fernet token expired (made " + std::to_string(now - timestamp) +
                               " s ago, ttl " + std::to_string(limit) + " s)");
        }
        if (now + max_clock_skew < timestamp) {
            throw InvalidToken("Fernet token is from " + std::to_string(timestamp - now) +
                               " s in the future (clocks out of step?)");
        }
    }
    return std::move(*data);
}

} // namespace

std::string urlsafe_b64encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        auto const v = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16) |
                       (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += alphabet[(v >> 6) & 63];
        out += alphabet[v & 63];
    }
    auto const rest = bytes.size() - i;
    if (rest > 0) {
        unsigned v = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
        if (rest == 2) {
            v |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        }
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> urlsafe_b64decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
        ++padding;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    unsigned v = 0;
    int bits = 0;
    for (std::size_t i = 0; i < text.size() - padding; ++i) {
        auto const s = sextet(text[i]);
        if (s < 0) {
            return std::nullopt;
        }
        v = (v << 6) | static_cast<unsigned>(s);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((v >> bits) & 0xff);
        }
    }
    // Leftover bits must be zero (canonical encoding) and fewer than a byte.
    if (bits >= 6 || (v & ((1U << bits) - 1)) != 0) {
        return std::nullopt;
    }
    return out;
}

Fernet::Fernet(std::string_view base64_key) {
    auto key = urlsafe_b64decode(base64_key);
    if (!key || key->size() != key_size) {
        throw std::invalid_argument("Fernet key must be 32 url-safe base64-encoded bytes");
    }
    signing_key_ = key->substr(0, half_key);
    encryption_key_ = key->substr(half_key);
}

Fernet Fernet::from_channels_redis_key(std::string_view secret) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(bytes_of(secret), secret.size(), digest.data());
    Fernet f;
    f.signing_key_.assign(reinterpret_cast<char const*>(digest.data()), half_key);
    f.encryption_key_.assign(reinterpret_cast<char const*>(digest.data()) + half_key, half_key);
    return f;
}

std::string Fernet::sign(std::string_view signed_part) const {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int mac_size = 0;
    if (HMAC(EVP_sha256(), signing_key_.data(), static_cast<int>(signing_key_.size()),
             bytes_of(signed_part), signed_part.size(), mac.data(), &mac_size) == nullptr ||
        mac_size != hmac_size) {
        throw Error("OpenSSL HMAC-SHA256 failed");
    }
    return {reinterpret_cast<char const*>(mac.data()), mac_size};
}

bool Fernet::verify(std::string_view data) const {
    auto const body = data.substr(0, data.size() - hmac_size);
    return constant_time_equal(sign(body), data.substr(data.size() - hmac_size));
}

std::string Fernet::encrypt(std::string_view plaintext) const {
    return encrypt_at(plaintext, now_seconds(), random_bytes(iv_size));
}

std::string Fernet::encrypt_at(std::string_view plaintext, std::uint64_t timestamp,
                               std::string_view iv) const {
    if (iv.size() != iv_size) {
        throw std::invalid_argument("Fernet IV must be 16 bytes");
    }
    std::string data;
    data.reserve(header_size + plaintext.size() + block_size + hmac_size);
    data += static_cast<char>(version_byte);
    for (int shift = 56; shift >= 0; shift -= 8) {
        data += static_cast<char>((timestamp >> shift) & 0xff);
    }
    data += iv;
    auto ctx = new_cipher_ctx();
    auto const start = data.size();
    data.resize(start + plaintext.size() + block_size);
    auto* out = reinterpret_cast<unsigned char*>(data.data() + start);
    int written = 0;
    int last = 0;
    if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_cbc(), nullptr, bytes_of(encryption_key_),
                           bytes_of(iv)) != 1 ||
        EVP_EncryptUpdate(ctx.get(), out, &written, bytes_of(plaintext),
                          static_cast<int>(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), out + written, &last) != 1) {
        throw Error("OpenSSL AES-128-CBC encryption failed");
    }
    data.resize(start + static_cast<std::size_t>(written + last));
    data += sign(data);
    return urlsafe_b64encode(data);
}

std::string Fernet::decrypt_verified(std::string_view data) const {
    auto const iv = data.substr(1 + 8, iv_size);
    auto const ciphertext = data.substr(header_size, data.size() - header_size - hmac_size);
    auto ctx = new_cipher_ctx();
    std::string out(ciphertext.size(), '\0');
    auto* dst = reinterpret_cast<unsigned char*>(out.data());
    int written = 0;
    int last = 0;
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_cbc(), nullptr, bytes_of(encryption_key_),
                           bytes_of(iv)) != 1 ||
        EVP_DecryptUpdate(ctx.get(), dst, &written, bytes_of(ciphertext),
                          static_cast<int>(ciphertext.size())) != 1) {
        throw Error("OpenSSL AES-128-CBC decryption failed");
    }
    if (EVP_DecryptFinal_ex(ctx.get(), dst + written, &last) != 1) {
        throw InvalidToken("Fernet token has a bad padding");
    }
    out.resize(static_cast<std::size_t>(written + last));
    return out;
}

std::string Fernet::decrypt(std::string_view token, std::optional<std::chrono::seconds> ttl) const {
    auto const data = token_bytes(token, ttl);
    if (!verify(data)) {
        throw InvalidToken("Fernet token's signature does not match the key (encrypted with "
                           "another key, or altered)");
    }
    return decrypt_verified(data);
}

MultiFernet::MultiFernet(std::vector<Fernet> keys) : keys_(std::move(keys)) {
    if (keys_.empty()) {
        throw std::invalid_argument("MultiFernet requires at least one key");
    }
}

MultiFernet MultiFernet::from_channels_redis_keys(std::vector<std::string> const& secrets) {
    std::vector<Fernet> keys;
    keys.reserve(secrets.size());
    for (auto const& s : secrets) {
        keys.push_back(Fernet::from_channels_redis_key(s));
    }
    return MultiFernet(std::move(keys));
}

std::string MultiFernet::encrypt(std::string_view plaintext) const {
    return keys_.front().encrypt(plaintext);
}

std::string MultiFernet::decrypt(std::string_view token,
                                 std::optional<std::chrono::seconds> ttl) const {
    // The format and age do not depend on the key: checked once.
    auto const data = token_bytes(token, ttl);
    for (auto const& key : keys_) {
        if (key.verify(data)) {
            return key.decrypt_verified(data);
        }
    }
    throw InvalidToken("Fernet token's signature does not match " +
                       std::string(keys_.size() == 1 ? "the key" : "any of the " +
                                                                       std::to_string(keys_.size()) +
                                                                       " keys") +
                       " (encrypted with another key, or altered)");
}

} // namespace canal::detail
