// Django's django.core.signing and salted_hmac: the signed, timestamped, optionally
// compressed JSON that Django's sessions and cookies are made of (Django 3.2's formats).
#pragma once

#include <canal/core/errors.hpp>

#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace canal::django {

/** A signature that does not match, or a signed value that is malformed (signing.BadSignature). */
class BadSignature : public Error {
public:
    using Error::Error;
};

/** A good signature older than the maximum age (signing.SignatureExpired). */
class SignatureExpired : public BadSignature {
public:
    using BadSignature::BadSignature;
};

/** The hash of a salted HMAC (Django's DEFAULT_HASHING_ALGORITHM: sha256; sha1 is the legacy one). */
enum class Algorithm { sha256, sha1 };

/**
 * Django's `salted_hmac(key_salt, value, secret, algorithm=...)`: HMAC of `value` keyed with
 * `hash(key_salt + secret)`. Returns the raw digest (32 bytes for SHA-256, 20 for SHA-1).
 */
std::string salted_hmac(std::string_view key_salt, std::string_view value, std::string_view secret,
                        Algorithm algorithm);

/** URL-safe base64 without padding (signing.b64_encode). */
std::string b64_encode(std::string_view bytes);

/**
 * The bytes of URL-safe base64 with or without padding (signing.b64_decode), or nothing when
 * `text` is not base64.
 */
std::optional<std::string> b64_decode(std::string_view text);

/** `n` in Django's base62 (django.utils.baseconv.base62): the timestamps of TimestampSigner. */
std::string base62_encode(std::int64_t n);

/** The number in Django's base62 text, or nothing when it is not base62 (or overflows). */
std::optional<std::int64_t> base62_decode(std::string_view text);

/**
 * Signer.unsign(): the value of `signed_value` (`value:signature`) when its signature is the
 * salted HMAC of `value` with `salt + "signer"` and `secret`, in SHA-256 or, as Django 3.2
 * also accepts, SHA-1. Throws BadSignature otherwise.
 */
std::string unsign(std::string_view signed_value, std::string_view secret, std::string_view salt);

/** What TimestampSigner signed: the value and when (seconds since the epoch). */
struct TimestampedValue {
    /** The signed value. */
    std::string value;
    /** When it was signed. */
    std::int64_t timestamp = 0;
};

/**
 * TimestampSigner.unsign(): unsign(), then the value's trailing `:timestamp` (base62). With a
 * `max_age`, throws SignatureExpired when `now` is more than `max_age` after the timestamp.
 * Throws BadSignature when the signature does not match or the timestamp is not base62.
 */
TimestampedValue unsign_timestamped(std::string_view signed_value, std::string_view secret,
                                    std::string_view salt,
                                    std::optional<std::chrono::seconds> max_age,
                                    std::chrono::system_clock::time_point now);

/**
 * signing.loads(s, key=secret, salt=salt, max_age=max_age) with Django's JSON serializer:
 * checks the signature and the age, decodes base64, inflates the zlib data of a value that
 * starts with `.`, and parses the JSON (as Latin-1 bytes, as Django does). Throws
 * BadSignature (or SignatureExpired) for a signature or age that does not pass, canal::Error
 * for signed data that does not decode (bad base64, zlib or JSON, or over 1 MiB inflated).
 */
boost::json::value loads(std::string_view s, std::string_view secret, std::string_view salt,
                         std::optional<std::chrono::seconds> max_age,
                         std::chrono::system_clock::time_point now);

/**
 * signing.dumps(value, key=secret, salt=salt, compress=compress) signed at `now`, with
 * `algorithm`: Django's compact JSON (separators `,` `:` and non-ASCII as `\uXXXX`), zlib
 * when `compress` and it saves more than one byte. What Django's loads() accepts.
 */
std::string dumps(boost::json::value const& value, std::string_view secret, std::string_view salt,
                  bool compress, std::chrono::system_clock::time_point now,
                  Algorithm algorithm = Algorithm::sha256);

} // namespace canal::django
