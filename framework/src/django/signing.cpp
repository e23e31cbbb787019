// Django's signing (Signer, TimestampSigner, dumps/loads) and salted_hmac, with OpenSSL and zlib.
#include <canal/django/signing.hpp>

#include "detail/crypto.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#include <array>
#include <limits>

namespace canal::django {

namespace {

constexpr std::string_view base62_digits =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::string_view base64_digits =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
// Far above any session (Django's cookies stay under 4 KB): a zip bomb stops here.
constexpr std::size_t max_inflated = 1 << 20;

EVP_MD const* digest_of(Algorithm algorithm) {
    return algorithm == Algorithm::sha256 ? EVP_sha256() : EVP_sha1();
}

std::string digest(Algorithm algorithm, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned size = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &size, digest_of(algorithm), nullptr) !=
        1) {
        throw Error("OpenSSL EVP_Digest failed");
    }
    return std::string(reinterpret_cast<char const*>(out.data()), size);
}

// base64_hmac(salt + 'signer', value, key, algorithm) of Signer.signature().
std::string signature(std::string_view value, std::string_view secret, std::string_view salt,
                      Algorithm algorithm) {
    std::string key_salt(salt);
    key_salt += "signer";
    return b64_encode(salted_hmac(key_salt, value, secret, algorithm));
}

std::string inflate(std::string_view data) {
    z_stream stream{};
    if (inflateInit(&stream) != Z_OK) {
        throw Error("zlib inflateInit failed");
    }
    std::string out;
    std::array<char, 16384> chunk{};
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    int status = Z_OK;
    while (status != Z_STREAM_END) {
        stream.next_out = reinterpret_cast<Bytef*>(chunk.data());
        stream.avail_out = static_cast<uInt>(chunk.size());
        status = ::inflate(&stream, Z_NO_FLUSH);
        if (status != Z_OK && status != Z_STREAM_END) {
            inflateEnd(&stream);
            throw Error("signed data does not inflate (bad zlib data)");
        }
        out.append(chunk.data(), chunk.size() - stream.avail_out);
        if (out.size() > max_inflated) {
            inflateEnd(&stream);
            throw Error("signed data inflates to over 1 MiB");
        }
        if (status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
            inflateEnd(&stream);
            throw Error("signed data does not inflate (truncated zlib data)");
        }
    }
    inflateEnd(&stream);
    return out;
}

std::string deflate(std::string_view data) {
    uLongf size = compressBound(static_cast<uLong>(data.size()));
    std::string out(size, '\0');
    // zlib.compress() in Python: level 6 (Z_DEFAULT_COMPRESSION), the zlib format.
    if (compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                  reinterpret_cast<Bytef const*>(data.data()), static_cast<uLong>(data.size()),
                  Z_DEFAULT_COMPRESSION) != Z_OK) {
        throw Error("zlib compress failed");
    }
    out.resize(size);
    return out;
}

// Django's JSON serializer reads bytes as Latin-1: each byte is one code point.
std::string latin1_to_utf8(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    for (char c : bytes) {
        auto const b = static_cast<unsigned char>(c);
        if (b < 0x80) {
            out.push_back(c);
        } else {
            out.push_back(static_cast<char>(0xC0 | (b >> 6)));
            out.push_back(static_cast<char>(0x80 | (b & 0x3F)));
        }
    }
    return out;
}

void append_u(std::string& out, unsigned code) {
    static constexpr char hex[] = "0123456789abcdef";
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) {
        out.push_back(hex[(code >> shift) & 0xF]);
    }
}

// json.dumps(s) with ensure_ascii=True: non-ASCII as \uXXXX (surrogate pairs above U+FFFF).
void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (std::size_t i = 0; i < s.size();) {
        auto const b = static_cast<unsigned char>(s[i]);
        if (b < 0x80) {
            switch (b) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (b < 0x20 || b == 0x7f) {
                    if (b == 0x7f) {
                        out.push_back(static_cast<char>(b)); // Python leaves DEL as it is
                    } else {
                        append_u(out, b);
                    }
                } else {
                    out.push_back(static_cast<char>(b));
                }
            }
            ++i;
            continue;
        }
        // Boost.JSON strings are valid UTF-8: decode one sequence.
        std::size_t const n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
        unsigned code = b & (n == 4 ? 0x07 : n == 3 ? 0x0F : 0x1F);
        for (std::size_t k = 1; k < n && i + k < s.size(); ++k) {
            code = (code << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
        }
        if (code >= 0x10000) {
            code -= 0x10000;
            append_u(out, 0xD800 + (code >> 10));
            append_u(out, 0xDC00 + (code & 0x3FF));
        } else {
            append_u(out, code);
        }
        i += n;
    }
    out.push_back('"');
}

// json.dumps(value, separators=(',', ':')).
void append_json(std::string& out, boost::json::value const& value) {
    switch (value.kind()) {
    case boost::json::kind::object: {
        out.push_back('{');
        bool first = true;
        for (auto const& [key, item] : value.get_object()) {
            if (!first) {
                out.push_back(',');
            }
            first = false;
            append_json_string(out, key);
            out.push_back(':');
            append_json(out, item);
        }
        out.push_back('}');
        break;
    }
    case boost::json::kind::array: {
        out.push_back('[');
        bool first = true;
        for (auto const& item : value.get_array()) {
            if (!first) {
                out.push_back(',');
            }
            first = false;
            append_json(out, item);
        }
        out.push_back(']');
        break;
    }
    case boost::json::kind::string:
        append_json_string(out, value.get_string());
        break;
    default:
        out += boost::json::serialize(value); // numbers, true, false, null
    }
}

} // namespace

std::string salted_hmac(std::string_view key_salt, std::string_view value, std::string_view secret,
                        Algorithm algorithm) {
    std::string salted(key_salt);
    salted += secret;
    auto const key = digest(algorithm, salted);
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned size = 0;
    if (HMAC(digest_of(algorithm), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<unsigned char const*>(value.data()), value.size(), out.data(),
             &size) == nullptr) {
        throw Error("OpenSSL HMAC failed");
    }
    return std::string(reinterpret_cast<char const*>(out.data()), size);
}

std::string b64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    auto const at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
    for (; i + 3 <= bytes.size(); i += 3) {
        unsigned const n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
        out.push_back(base64_digits[(n >> 18) & 63]);
        out.push_back(base64_digits[(n >> 12) & 63]);
        out.push_back(base64_digits[(n >> 6) & 63]);
        out.push_back(base64_digits[n & 63]);
    }
    if (bytes.size() - i == 1) {
        unsigned const n = at(i) << 16;
        out.push_back(base64_digits[(n >> 18) & 63]);
        out.push_back(base64_digits[(n >> 12) & 63]);
    } else if (bytes.size() - i == 2) {
        unsigned const n = (at(i) << 16) | (at(i + 1) << 8);
        out.push_back(base64_digits[(n >> 18) & 63]);
        out.push_back(base64_digits[(n >> 12) & 63]);
        out.push_back(base64_digits[(n >> 6) & 63]);
    }
    return out;
}

std::optional<std::string> b64_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') {
        text.remove_suffix(1);
    }
    if (text.size() % 4 == 1) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() * 3 / 4);
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        auto const pos = base64_digits.find(c);
        if (pos == std::string_view::npos) {
            return std::nullopt;
        }
        buffer = (buffer << 6) | static_cast<unsigned>(pos);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    return out;
}

std::string base62_encode(std::int64_t n) {
    bool const negative = n < 0;
    auto value = negative ? -static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n);
    std::string out;
    do {
        out.insert(out.begin(), base62_digits[value % 62]);
        value /= 62;
    } while (value > 0);
    if (negative) {
        out.insert(out.begin(), '-');
    }
    return out;
}

std::optional<std::int64_t> base62_decode(std::string_view text) {
    bool const negative = !text.empty() && text.front() == '-';
    if (negative) {
        text.remove_prefix(1);
    }
    if (text.empty()) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    for (char c : text) {
        auto const digit = base62_digits.find(c);
        if (digit == std::string_view::npos ||
            value > (std::numeric_limits<std::int64_t>::max() - static_cast<std::int64_t>(digit)) / 62) {
            return std::nullopt;
        }
        value = value * 62 + static_cast<std::int64_t>(digit);
    }
    return negative ? -value : value;
}

std::string unsign(std::string_view signed_value, std::string_view secret, std::string_view salt) {
    auto const colon = signed_value.rfind(':');
    if (colon == std::string_view::npos) {
        throw BadSignature("No \":\" found in value");
    }
    auto const value = signed_value.substr(0, colon);
    auto const sig = signed_value.substr(colon + 1);
    // Both forms are always computed: the time taken does not say which one matched.
    bool const sha256 =
        canal::detail::constant_time_equal(sig, signature(value, secret, salt, Algorithm::sha256));
    bool const sha1 =
        canal::detail::constant_time_equal(sig, signature(value, secret, salt, Algorithm::sha1));
    if (!sha256 && !sha1) {
        throw BadSignature("the signature does not match");
    }
    return std::string(value);
}

TimestampedValue unsign_timestamped(std::string_view signed_value, std::string_view secret,
                                    std::string_view salt,
                                    std::optional<std::chrono::seconds> max_age,
                                    std::chrono::system_clock::time_point now) {
    auto result = unsign(signed_value, secret, salt);
    auto const colon = result.rfind(':');
    if (colon == std::string::npos) {
        throw BadSignature("the signed value has no timestamp");
    }
    auto const timestamp = base62_decode(std::string_view(result).substr(colon + 1));
    if (!timestamp) {
        throw BadSignature("the signed value's timestamp is not base62");
    }
    result.resize(colon);
    if (max_age) {
        auto const signed_at = std::chrono::system_clock::time_point(std::chrono::seconds(*timestamp));
        // Django compares the age in float seconds: `age > max_age`.
        if (now - signed_at > *max_age) {
            throw SignatureExpired("the signature is older than " +
                                   std::to_string(max_age->count()) + " seconds");
        }
    }
    return TimestampedValue{std::move(result), *timestamp};
}

boost::json::value loads(std::string_view s, std::string_view secret, std::string_view salt,
                         std::optional<std::chrono::seconds> max_age,
                         std::chrono::system_clock::time_point now) {
    auto const value = unsign_timestamped(s, secret, salt, max_age, now).value;
    std::string_view base64d = value;
    bool const compressed = !base64d.empty() && base64d.front() == '.';
    if (compressed) {
        base64d.remove_prefix(1);
    }
    auto data = b64_decode(base64d);
    if (!data) {
        throw Error("signed data is not URL-safe base64");
    }
    if (compressed) {
        data = inflate(*data);
    }
    boost::system::error_code ec;
    auto parsed = boost::json::parse(latin1_to_utf8(*data), ec);
    if (ec) {
        throw Error("signed data is not JSON: " + ec.message());
    }
    return parsed;
}

std::string dumps(boost::json::value const& value, std::string_view secret, std::string_view salt,
                  bool compress, std::chrono::system_clock::time_point now, Algorithm algorithm) {
    std::string data;
    append_json(data, value);
    bool compressed = false;
    if (compress) {
        auto smaller = deflate(data);
        if (smaller.size() < data.size() - 1) {
            data = std::move(smaller);
            compressed = true;
        }
    }
    std::string signed_value = compressed ? "." : "";
    signed_value += b64_encode(data);
    signed_value += ':';
    signed_value += base62_encode(
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
    auto sig = signature(signed_value, secret, salt, algorithm);
    signed_value += ':';
    signed_value += sig;
    return signed_value;
}

} // namespace canal::django
