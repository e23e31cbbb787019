// Fernet tokens (python3-cryptography's `Fernet` / `MultiFernet`), sans I/O: what
// channels_redis' `symmetric_encryption_keys` wraps every layer message in.
#pragma once

#include <canal/core/errors.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace canal::detail {

/** A Fernet token that was refused: malformed, signed with another key, altered or expired. */
class InvalidToken : public Error {
public:
    using Error::Error;
};

/** URL-safe base64 (`-` and `_`) with `=` padding, as Python's `base64.urlsafe_b64encode`. */
std::string urlsafe_b64encode(std::string_view bytes);

/**
 * The bytes of URL-safe base64 with its `=` padding, or nothing when `text` is not that
 * (another character, a wrong length, bits set after the last byte).
 */
std::optional<std::string> urlsafe_b64decode(std::string_view text);

/**
 * One Fernet key: 32 bytes, the first 16 sign (HMAC-SHA256), the last 16 encrypt
 * (AES-128-CBC with PKCS7 padding). A token is URL-safe base64 of
 * `0x80 | 8-byte big-endian timestamp | 16-byte IV | ciphertext | 32-byte HMAC`.
 *
 * @par Thread safety
 * Immutable once built: any thread may use one.
 */
class Fernet {
public:
    /**
     * A key as cryptography's `Fernet(key)` takes it: URL-safe base64 of 32 bytes.
     *
     * @throws std::invalid_argument when `key` is not that.
     */
    explicit Fernet(std::string_view base64_key);

    /**
     * channels_redis' `make_fernet(key)`: the key is the UTF-8 text of any length (a
     * Django `SECRET_KEY`), hashed with SHA-256 to the 32 bytes of the Fernet key.
     */
    static Fernet from_channels_redis_key(std::string_view secret);

    /** Encrypts with the current time and a random IV. */
    [[nodiscard]] std::string encrypt(std::string_view plaintext) const;

    /** Encrypts with the given timestamp (seconds since 1970) and 16-byte IV: for tests. */
    [[nodiscard]] std::string encrypt_at(std::string_view plaintext, std::uint64_t timestamp,
                                         std::string_view iv) const;

    /**
     * The plaintext of `token`. With `ttl`, a token older than that (by its timestamp), or
     * more than 60 s in the future, is refused, as cryptography's `decrypt(token, ttl)`.
     *
     * @throws InvalidToken saying why (not base64, too short, wrong version, signature
     * mismatch, bad padding, expired).
     */
    [[nodiscard]] std::string decrypt(std::string_view token,
                                      std::optional<std::chrono::seconds> ttl = {}) const;

private:
    friend class MultiFernet;
    Fernet() = default;
    /** The HMAC of `signed_part` with the signing key. */
    [[nodiscard]] std::string sign(std::string_view signed_part) const;
    /** True when the token's last 32 bytes are the HMAC of the rest (constant time). */
    [[nodiscard]] bool verify(std::string_view data) const;
    /** Decrypts the verified bytes of a token (base64 already decoded). */
    [[nodiscard]] std::string decrypt_verified(std::string_view data) const;

    std::string signing_key_;
    std::string encryption_key_;
};

/**
 * Several keys, as cryptography's `MultiFernet`: the first encrypts, each decrypts (for
 * key rotation: put the new key first, keep the old ones after it until their messages
 * have expired).
 */
class MultiFernet {
public:
    /** @throws std::invalid_argument when `keys` is empty. */
    explicit MultiFernet(std::vector<Fernet> keys);

    /** channels_redis' `symmetric_encryption_keys`: one make_fernet() per key. */
    static MultiFernet from_channels_redis_keys(std::vector<std::string> const& secrets);

    /** Encrypts with the first key. */
    [[nodiscard]] std::string encrypt(std::string_view plaintext) const;

    /**
     * The plaintext of a token made with any of the keys.
     *
     * @throws InvalidToken saying why; "signature does not match" when no key signed it.
     */
    [[nodiscard]] std::string decrypt(std::string_view token,
                                      std::optional<std::chrono::seconds> ttl = {}) const;

    /** How many keys. */
    [[nodiscard]] std::size_t size() const noexcept { return keys_.size(); }

private:
    std::vector<Fernet> keys_;
};

} // namespace canal::detail
