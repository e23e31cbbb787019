// Django's signing and session formats, checked against vectors made by Django itself
// (vectors.json, from make_vectors.py), and bad input of every kind.
#include <canal/django/signing.hpp>

#include <canal/django/session_codec.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <iterator>

using namespace canal::django;
namespace json = boost::json;
using std::chrono::seconds;

namespace {

json::object const& vectors() {
    static json::object const v = [] {
        std::ifstream in(CANAL_DJANGO_VECTORS);
        BOOST_TEST_REQUIRE(static_cast<bool>(in), "cannot read " CANAL_DJANGO_VECTORS);
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        return json::parse(text).as_object();
    }();
    return v;
}

std::string secret() { return std::string(vectors().at("secret").as_string()); }

std::chrono::system_clock::time_point at(std::int64_t t) {
    return std::chrono::system_clock::time_point(seconds(t));
}

std::chrono::system_clock::time_point now() { return at(vectors().at("now").as_int64()); }

std::string str(json::value const& v) { return std::string(v.as_string()); }

// `s` with one character of its signature changed.
std::string tampered(std::string s) {
    s.back() = s.back() == 'A' ? 'B' : 'A';
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(signing)

BOOST_AUTO_TEST_CASE(loads_reads_what_django_dumps) {
    for (auto const& item : vectors().at("dumps").as_array()) {
        auto const& v = item.as_object();
        auto const value = loads(str(v.at("signed")), secret(), str(v.at("salt")), seconds(60),
                                 now());
        BOOST_TEST(value == v.at("value"), "value of " << v.at("signed"));
    }
}

BOOST_AUTO_TEST_CASE(dumps_writes_what_django_writes) {
    // Same value, salt, time and compression: byte for byte Django's output.
    for (auto const& item : vectors().at("dumps").as_array()) {
        auto const& v = item.as_object();
        auto const signed_value = dumps(v.at("value"), secret(), str(v.at("salt")),
                                        v.at("compress").as_bool(), now());
        BOOST_TEST(signed_value == str(v.at("signed")));
    }
}

BOOST_AUTO_TEST_CASE(legacy_sha1_signatures_are_accepted) {
    auto const& v = vectors().at("sha1_signed").as_object();
    BOOST_TEST(loads(str(v.at("signed")), secret(), "django.core.signing", std::nullopt, now()) ==
               v.at("value"));
    BOOST_CHECK_THROW(loads(tampered(str(v.at("signed"))), secret(), "django.core.signing",
                            std::nullopt, now()),
                      BadSignature);
}

BOOST_AUTO_TEST_CASE(a_wrong_signature_key_salt_or_value_is_refused) {
    auto const& v = vectors().at("dumps").as_array().at(0).as_object();
    auto const good = str(v.at("signed"));
    auto const salt = str(v.at("salt"));
    BOOST_CHECK_THROW(loads(tampered(good), secret(), salt, std::nullopt, now()), BadSignature);
    BOOST_CHECK_THROW(loads(good, "another secret", salt, std::nullopt, now()), BadSignature);
    BOOST_CHECK_THROW(loads(good, secret(), "another.salt", std::nullopt, now()), BadSignature);
    auto changed = good;
    changed[3] = changed[3] == 'x' ? 'y' : 'x';
    BOOST_CHECK_THROW(loads(changed, secret(), salt, std::nullopt, now()), BadSignature);
    BOOST_CHECK_THROW(loads("no colon at all", secret(), salt, std::nullopt, now()),
                      BadSignature);
    BOOST_CHECK_THROW(loads("", secret(), salt, std::nullopt, now()), BadSignature);
    BOOST_CHECK_THROW(loads(":", secret(), salt, std::nullopt, now()), BadSignature);
}

BOOST_AUTO_TEST_CASE(max_age_expires_as_django_counts) {
    auto const& v = vectors().at("dumps").as_array().at(0).as_object();
    auto const good = str(v.at("signed"));
    auto const salt = str(v.at("salt"));
    auto const t = vectors().at("now").as_int64(); // signed at t (Django's int(time.time()))
    BOOST_TEST(loads(good, secret(), salt, seconds(100), at(t + 100)).is_object());
    BOOST_CHECK_THROW(loads(good, secret(), salt, seconds(100), at(t + 101)), SignatureExpired);
    BOOST_TEST(loads(good, secret(), salt, std::nullopt, at(t + 100000000)).is_object());
}

BOOST_AUTO_TEST_CASE(signed_but_undecodable_data_is_an_error) {
    auto const& bad = vectors().at("bad_data").as_object();
    auto const try_load = [&](char const* name) {
        return loads(str(bad.at(name)), secret(), "django.core.signing", std::nullopt, now());
    };
    BOOST_CHECK_THROW(try_load("not_base64"), canal::Error);
    BOOST_CHECK_THROW(try_load("not_zlib"), canal::Error);
    BOOST_CHECK_THROW(try_load("not_json"), canal::Error);
    BOOST_CHECK_THROW(try_load("no_timestamp"), BadSignature);
    BOOST_TEST(try_load("not_object").is_array()); // loads() itself takes any JSON
}

BOOST_AUTO_TEST_CASE(a_zip_bomb_stops_at_one_mebibyte) {
    json::object big;
    big["x"] = std::string(3 << 20, 'a'); // 3 MiB of 'a' compresses to a few KiB
    auto const signed_value = dumps(big, "k", "s", true, now());
    BOOST_TEST(signed_value.size() < 20000u);
    BOOST_CHECK_THROW(loads(signed_value, "k", "s", std::nullopt, now()), canal::Error);
}

BOOST_AUTO_TEST_CASE(salted_hmac_and_base62_match_django) {
    for (auto const& item : vectors().at("salted_hmac").as_array()) {
        auto const& v = item.as_object();
        auto const algorithm = v.at("algorithm") == "sha1" ? Algorithm::sha1 : Algorithm::sha256;
        auto const mac = salted_hmac(str(v.at("key_salt")), str(v.at("value")), secret(), algorithm);
        std::string hex;
        for (unsigned char c : mac) {
            static constexpr char digits[] = "0123456789abcdef";
            hex += digits[c >> 4];
            hex += digits[c & 15];
        }
        BOOST_TEST(hex == str(v.at("hex")));
    }
    for (auto const& item : vectors().at("base62").as_array()) {
        auto const& v = item.as_object();
        BOOST_TEST(base62_encode(v.at("n").to_number<std::int64_t>()) == str(v.at("text")));
        BOOST_TEST(base62_decode(str(v.at("text"))).value_or(-1) ==
                   v.at("n").to_number<std::int64_t>());
    }
    BOOST_TEST(!base62_decode(""));
    BOOST_TEST(!base62_decode("ab!"));
    BOOST_TEST(!base62_decode("zzzzzzzzzzzzzzzzzzzzzzzz")); // overflows int64
}

BOOST_AUTO_TEST_CASE(base64_round_trips_and_refuses_garbage) {
    for (std::string s : {"", "a", "ab", "abc", "abcd"}) {
        BOOST_TEST(b64_decode(b64_encode(s)).value_or("?") == s);
    }
    std::string const binary("\xff\xfe\x00\x01", 4);
    BOOST_TEST(b64_decode(b64_encode(binary)).value_or("?") == binary);
    BOOST_TEST(b64_encode("\xfb\xff") == "-_8");
    BOOST_TEST(!b64_decode("ab+c"));
    BOOST_TEST(!b64_decode("abcde"));
    BOOST_TEST(b64_decode("YQ==").value_or("?") == "a");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(session_data)

BOOST_AUTO_TEST_CASE(db_engine_data_decodes_in_both_formats) {
    for (char const* name : {"db_session", "db_session_legacy"}) {
        auto const& v = vectors().at(name).as_object();
        auto const data = decode_session_data(str(v.at("encoded")), secret());
        BOOST_TEST_REQUIRE(data.has_value(), name);
        BOOST_TEST(json::value(*data) == v.at("data"), name);
        BOOST_TEST(!decode_session_data(str(v.at("encoded")), "wrong secret"), name);
    }
    auto const legacy = str(vectors().at("db_session_legacy").as_object().at("encoded"));
    auto changed = legacy;
    changed[50] = changed[50] == 'A' ? 'B' : 'A';
    BOOST_TEST(!decode_session_data(changed, secret()));
    BOOST_TEST(!decode_session_data("", secret()));
    BOOST_TEST(!decode_session_data("%%%%", secret()));
    BOOST_TEST(!decode_session_data("YWJj", secret())); // base64 of "abc": no hash
    auto const& bad = vectors().at("bad_data").as_object();
    BOOST_TEST(!decode_session_data(str(bad.at("not_json")), secret()));
}

BOOST_AUTO_TEST_CASE(signed_cookie_sessions_expire_after_the_cookie_age) {
    auto const& v = vectors().at("signed_cookie").as_object();
    auto const cookie = str(v.at("cookie"));
    auto const age = seconds(v.at("max_age").as_int64());
    auto const t = vectors().at("now").as_int64();
    auto const data = decode_signed_cookie(cookie, secret(), age, at(t + 60));
    BOOST_TEST_REQUIRE(data.has_value());
    BOOST_TEST(json::value(*data) == v.at("data"));
    BOOST_TEST(decode_signed_cookie(cookie, secret(), age, at(t + age.count())).has_value());
    BOOST_TEST(!decode_signed_cookie(cookie, secret(), age, at(t + age.count() + 1)));
    BOOST_TEST(!decode_signed_cookie(tampered(cookie), secret(), age, at(t)));
    BOOST_TEST(!decode_signed_cookie(cookie, "wrong", age, at(t)));
    // The db engine's salt is not the cookie engine's.
    BOOST_TEST(!decode_session_data(cookie, secret()));
    // A signed value that is JSON but not an object is no session.
    auto const list = dumps(json::array{1, 2}, secret(), signed_cookies_salt, false, at(t));
    BOOST_TEST(!decode_signed_cookie(list, secret(), age, at(t)));
}

BOOST_AUTO_TEST_CASE(session_auth_hash_matches_django) {
    auto const& v = vectors().at("auth_hash").as_object();
    auto const password = str(v.at("password"));
    BOOST_TEST(session_auth_hash(password, secret()) == str(v.at("sha256")));
    BOOST_TEST(session_auth_hash(password, secret(), Algorithm::sha1) == str(v.at("sha1")));
    BOOST_TEST(session_auth_hash_matches(str(v.at("sha256")), password, secret()));
    BOOST_TEST(session_auth_hash_matches(str(v.at("sha1")), password, secret()));
    BOOST_TEST(!session_auth_hash_matches(str(v.at("sha256")), password + "x", secret()));
    BOOST_TEST(!session_auth_hash_matches(str(v.at("sha256")), password, "other secret"));
    BOOST_TEST(!session_auth_hash_matches("", password, secret()));
    BOOST_TEST(!session_auth_hash_matches(tampered(str(v.at("sha256"))), password, secret()));
}

BOOST_AUTO_TEST_SUITE_END()
