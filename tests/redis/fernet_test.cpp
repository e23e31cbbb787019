// Fernet / MultiFernet against tokens made by python3-cryptography, the way channels_redis'
// symmetric_encryption_keys makes them; and every kind of token they must refuse.
#include "layers/fernet.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <ctime>
#include <string>
#include <vector>

using canal::detail::Fernet;
using canal::detail::InvalidToken;
using canal::detail::MultiFernet;
using canal::detail::urlsafe_b64decode;
using canal::detail::urlsafe_b64encode;

namespace {

std::string from_hex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    }
    return out;
}

/** A token made by Python: secret (channels_redis key), plaintext, time, IV, token. */
struct Vector {
    char const* secret;
    char const* plaintext_hex;
    std::uint64_t timestamp;
    char const* iv_hex;
    char const* token;
};

// Made with /usr/bin/python3 (cryptography 38, channels_redis 4.0's make_fernet):
//   f = Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode("utf8")).digest()))
//   f._encrypt_from_parts(plaintext, timestamp, iv)
// The last plaintext is channels_redis' msgpack of {"type": "chat.message", "message": "hi",
// "__asgi_channel__": "specific.abc!def"}.
Vector const vectors[] = {
    {"django-insecure-k3y!", "", 1700000000, "000102030405060708090a0b0c0d0e0f",
     "gAAAAABlU_EAAAECAwQFBgcICQoLDA0OD4iEce85-1kYNOuyGdnzMPiRMti_x7ULQopS9H6VMJmpvIoSQrMjFTOAtu"
     "lu7dV40w=="},
    {"django-insecure-k3y!", "68656c6c6f2c206368616e6e656c73", 1764748800,
     "101112131415161718191a1b1c1d1e1f",
     "gAAAAABpL-4AEBESExQVFhcYGRobHB0eHxLLLGCjoaLwMf1HgGwpW_9BwVdLiMxYeQcIeDm9luh2CYsFaZ531nDW7Q"
     "lwDLAkQg=="},
    {"\xc3\xa9t\xc3\xa9 secret \xe2\x98\x83", "000102030405060708090a0b0c0d0e0f", 1,
     "ffffffffffffffffffffffffffffffff",
     "gAAAAAAAAAAB_____________________5huU5boY2_Y2jc7t-7p4BD0zIZSokHK8leD9dh65oZgp6Ubc5pj7YhMWM"
     "cdK7GvF8rLCBhyySJgBnEdWyZlxtE="},
    {"another key",
     "83a474797065ac636861742e6d657373616765a76d657373616765a26869b05f5f617367695f6368616e6e656c"
     "5f5fb073706563696669632e61626321646566",
     1800000000, "30313233343536373839616263646566",
     "gAAAAABrSdIAMDEyMzQ1Njc4OWFiY2RlZl07zVDf8cTzWm80H6Wz5A43o3W812B0ErO0qBLKFFWG6DESkhB9YnQRwF"
     "7PBlgY9lHPQiDZbpu8bYyhPacc9xZK4meJrUc0stAOUuzpXBE51GTbT4akudq5J70oTd7JBWCwU40FD7RlzoQe6tv1"
     "K3Q="},
};

// Python: MultiFernet([make_fernet("rotation-old")]).encrypt(b"old key message"), made
// with the current time.
char const* const old_key_token =
    "gAAAAABrERWW1A6aA52CscN00_0vLZP2uhhtWWTaA2pn-uarvXvJTbmL2F-NzZf6tiU1GUg3TCipyl2E2RBnjJIJg"
    "h5q9C_Eng==";

// Expects `f()` to throw InvalidToken whose message contains `why`.
template <typename F>
void refused(F f, std::string const& why) {
    try {
        f();
    } catch (InvalidToken const& e) {
        BOOST_TEST(std::string(e.what()).find(why) != std::string::npos,
                   "'" << e.what() << "' does not say '" << why << "'");
        return;
    }
    BOOST_ERROR("the token was accepted; expected: " << why);
}

// Flips one bit of the decoded token at `index` (from the end when negative) and re-encodes.
std::string tampered(std::string const& token, long index) {
    auto bytes = *urlsafe_b64decode(token);
    auto const i = index >= 0 ? static_cast<std::size_t>(index)
                              : bytes.size() - static_cast<std::size_t>(-index);
    bytes[i] = static_cast<char>(bytes[i] ^ 0x01);
    return urlsafe_b64encode(bytes);
}

} // namespace

BOOST_AUTO_TEST_SUITE(fernet)

BOOST_AUTO_TEST_CASE(channels_redis_key_derivation) {
    // base64.urlsafe_b64encode(hashlib.sha256(b"django-insecure-k3y!").digest())
    Fernet const explicit_key("nTwLJKu5dDwQD3VjbZ-2Q0TB0pTMg2TbDXgpPwYOPcY=");
    auto const& v = vectors[0];
    BOOST_TEST(explicit_key.decrypt(v.token) == from_hex(v.plaintext_hex));
    BOOST_TEST(explicit_key.encrypt_at("", v.timestamp, from_hex(v.iv_hex)) == v.token);
}

BOOST_AUTO_TEST_CASE(python_tokens_decrypt_and_encrypt_byte_for_byte) {
    for (auto const& v : vectors) {
        auto const f = Fernet::from_channels_redis_key(v.secret);
        auto const plaintext = from_hex(v.plaintext_hex);
        BOOST_TEST(f.decrypt(v.token) == plaintext, "secret " << v.secret);
        BOOST_TEST(f.encrypt_at(plaintext, v.timestamp, from_hex(v.iv_hex)) == v.token);
        auto const multi = MultiFernet::from_channels_redis_keys({v.secret});
        BOOST_TEST(multi.decrypt(v.token) == plaintext);
    }
}

BOOST_AUTO_TEST_CASE(round_trip_with_a_fresh_iv_each_time) {
    auto const f = Fernet::from_channels_redis_key("k");
    std::string big(100000, 'x');
    big[500] = '\0';
    for (auto const& text : {std::string(), std::string(15, 'a'), std::string(16, 'b'), big}) {
        auto const a = f.encrypt(text);
        auto const b = f.encrypt(text);
        BOOST_TEST(a != b); // random IVs
        BOOST_TEST(f.decrypt(a) == text);
        BOOST_TEST(f.decrypt(b, std::chrono::seconds(70)) == text);
    }
}

BOOST_AUTO_TEST_CASE(tampered_tokens_are_refused) {
    auto const f = Fernet::from_channels_redis_key(vectors[1].secret);
    std::string const token = vectors[1].token;
    std::string const why = "signature does not match";
    refused([&] { (void)f.decrypt(tampered(token, 5)); }, why);  // timestamp
    refused([&] { (void)f.decrypt(tampered(token, 12)); }, why); // IV
    refused([&] { (void)f.decrypt(tampered(token, 30)); }, why); // ciphertext
    refused([&] { (void)f.decrypt(tampered(token, -1)); }, why); // HMAC
    refused([&] { (void)f.decrypt(tampered(token, 0)); }, "version byte 0x80");
    // A valid token of another message with this one's HMAC.
    auto const other = *urlsafe_b64decode(f.encrypt("hello, channelz"));
    auto spliced =
        other.substr(0, other.size() - 32) + urlsafe_b64decode(token)->substr(other.size() - 32);
    refused([&] { (void)f.decrypt(urlsafe_b64encode(spliced)); }, why);
}

BOOST_AUTO_TEST_CASE(a_wrong_key_is_refused) {
    auto const right = Fernet::from_channels_redis_key("right");
    auto const wrong = Fernet::from_channels_redis_key("wrong");
    auto const token = right.encrypt("secret message");
    refused([&] { (void)wrong.decrypt(token); }, "signature does not match the key");
    refused([&] { (void)Fernet::from_channels_redis_key("another key").decrypt(vectors[0].token); },
            "signature does not match");
    auto const multi = MultiFernet::from_channels_redis_keys({"wrong", "also wrong"});
    refused([&] { (void)multi.decrypt(token); }, "does not match any of the 2 keys");
}

BOOST_AUTO_TEST_CASE(malformed_tokens_are_refused) {
    auto const f = Fernet::from_channels_redis_key(vectors[1].secret);
    std::string const token = vectors[1].token;
    std::string const not_base64 = "not URL-safe base64";
    refused([&] { (void)f.decrypt(token.substr(0, token.size() - 1)); }, not_base64);
    refused([&] { (void)f.decrypt(token + "\n"); }, not_base64);
    refused([&] { (void)f.decrypt(token.substr(0, 10) + "+" + token.substr(11)); }, not_base64);
    refused([&] { (void)f.decrypt(token.substr(0, 10) + "*" + token.substr(11)); }, not_base64);
    refused([&] { (void)f.decrypt("gAAAAABpL-4A===="); }, not_base64);
    refused([&] { (void)f.decrypt(""); }, "version byte");
    // Short: a header and HMAC without a cipher block; a few bytes; a truncated token.
    auto const bytes = *urlsafe_b64decode(token);
    refused([&] { (void)f.decrypt(urlsafe_b64encode(bytes.substr(0, 25) + bytes.substr(41))); },
            "wrong length");
    refused([&] { (void)f.decrypt(urlsafe_b64encode(bytes.substr(0, 9))); }, "wrong length");
    refused([&] { (void)f.decrypt(urlsafe_b64encode(bytes.substr(0, bytes.size() - 1))); },
            "wrong length");
    // Signed correctly but not PKCS7-padded: only someone with the key makes those.
    std::string const iv(16, '\0');
    auto good = *urlsafe_b64decode(f.encrypt_at("0123456789abcde", 1, iv));
    BOOST_TEST(good.size() == 1 + 8 + 16 + 16 + 32);
    BOOST_CHECK_THROW(Fernet("short"), std::invalid_argument);
    BOOST_CHECK_THROW(Fernet(urlsafe_b64encode(std::string(31, 'k'))), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(ttl_refuses_old_and_future_tokens) {
    auto const f = Fernet::from_channels_redis_key(vectors[1].secret);
    auto const now = static_cast<std::uint64_t>(std::time(nullptr));
    std::string const iv(16, 'i');
    auto const ttl = std::chrono::seconds(70);
    auto const old = f.encrypt_at("old", now - 100, iv);
    refused([&] { (void)f.decrypt(old, ttl); }, "expired");
    BOOST_TEST(f.decrypt(old) == "old"); // no ttl: no age check
    BOOST_TEST(f.decrypt(f.encrypt_at("recent", now - 60, iv), ttl) == "recent");
    // Up to 60 s ahead is clock skew; beyond it the token is refused.
    BOOST_TEST(f.decrypt(f.encrypt_at("ahead", now + 30, iv), ttl) == "ahead");
    refused([&] { (void)f.decrypt(f.encrypt_at("later", now + 3600, iv), ttl); }, "future");
    refused([&] { (void)f.decrypt(vectors[1].token, ttl); }, "expired"); // made in 2025
}

BOOST_AUTO_TEST_CASE(multi_fernet_encrypts_with_the_first_and_decrypts_with_any) {
    auto const old_only = MultiFernet::from_channels_redis_keys({"rotation-old"});
    auto const rotated = MultiFernet::from_channels_redis_keys({"rotation-new", "rotation-old"});
    auto const new_only = MultiFernet::from_channels_redis_keys({"rotation-new"});
    BOOST_TEST(rotated.size() == 2U);
    // A token Python made with the old key decrypts with the second key of the list.
    BOOST_TEST(rotated.decrypt(old_key_token) == "old key message");
    BOOST_TEST(old_only.decrypt(old_key_token) == "old key message");
    refused([&] { (void)new_only.decrypt(old_key_token); }, "signature does not match");
    // What the rotated list encrypts is made with its first key.
    auto const token = rotated.encrypt("new message");
    BOOST_TEST(new_only.decrypt(token) == "new message");
    refused([&] { (void)old_only.decrypt(token); }, "signature does not match");
    BOOST_CHECK_THROW(MultiFernet(std::vector<Fernet>{}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(base64_is_strict_and_canonical) {
    BOOST_TEST(urlsafe_b64encode("") == "");
    BOOST_TEST(urlsafe_b64encode("f") == "Zg==");
    BOOST_TEST(urlsafe_b64encode("fo") == "Zm8=");
    BOOST_TEST(urlsafe_b64encode("foo") == "Zm9v");
    BOOST_TEST(urlsafe_b64encode("\xfb\xff") == "-_8=");
    BOOST_TEST(*urlsafe_b64decode("-_8=") == "\xfb\xff");
    BOOST_TEST(*urlsafe_b64decode("Zm9vYg==") == "foob");
    BOOST_TEST(!urlsafe_b64decode("Zm9vYg"));   // padding missing
    BOOST_TEST(!urlsafe_b64decode("Zh=="));     // bits after the last byte
    BOOST_TEST(!urlsafe_b64decode("Zm9v/w==")); // standard alphabet
    BOOST_TEST(!urlsafe_b64decode("Z==="));
}

BOOST_AUTO_TEST_SUITE_END()
