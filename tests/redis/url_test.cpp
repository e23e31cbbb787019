// redis:// URLs: host, port, credentials, database; errors name the URL.
#include <canal/redis/url.hpp>

#include <boost/test/unit_test.hpp>

#include <stdexcept>
#include <string>

using canal::redis::Url;

BOOST_AUTO_TEST_SUITE(redis_url)

BOOST_AUTO_TEST_CASE(host_and_port) {
    auto const u = Url::parse("redis://127.0.0.1:6380");
    BOOST_TEST(u.host == "127.0.0.1");
    BOOST_TEST(u.port == 6380);
    BOOST_TEST(u.password.empty());
    BOOST_TEST(u.username.empty());
    BOOST_TEST(u.db == 0);
    BOOST_TEST(u.address() == "127.0.0.1:6380");
    BOOST_TEST(u.redacted() == "redis://127.0.0.1:6380");

    auto const d = Url::parse("redis://redis.example");
    BOOST_TEST(d.host == "redis.example");
    BOOST_TEST(d.port == 6379);
    BOOST_TEST(Url::parse("redis://h:1/").db == 0);
}

BOOST_AUTO_TEST_CASE(password_user_and_db) {
    auto const u = Url::parse("redis://:s3cret@localhost:7000/3");
    BOOST_TEST(u.host == "localhost");
    BOOST_TEST(u.port == 7000);
    BOOST_TEST(u.username.empty());
    BOOST_TEST(u.password == "s3cret");
    BOOST_TEST(u.db == 3);
    BOOST_TEST(u.redacted() == "redis://:***@localhost:7000/3");
    BOOST_TEST(u.redacted().find("s3cret") == std::string::npos);

    auto const a = Url::parse("redis://alice:pw@h/15");
    BOOST_TEST(a.username == "alice");
    BOOST_TEST(a.password == "pw");
    BOOST_TEST(a.db == 15);

    BOOST_TEST(Url::parse("redis://onlysecret@h").password == "onlysecret");
    BOOST_TEST(Url::parse("redis://onlysecret@h").username.empty());
    BOOST_TEST(Url::parse("redis://:p%40ss%3Aw@h").password == "p@ss:w");
}

BOOST_AUTO_TEST_CASE(ipv6_hosts) {
    auto const u = Url::parse("redis://[::1]:7001/2");
    BOOST_TEST(u.host == "::1");
    BOOST_TEST(u.port == 7001);
    BOOST_TEST(u.db == 2);
    BOOST_TEST(u.address() == "[::1]:7001");
    BOOST_TEST(u.redacted() == "redis://[::1]:7001/2");
}

BOOST_AUTO_TEST_CASE(rediss_urls_ask_for_tls_with_redis_pys_options) {
    auto const plain = Url::parse("redis://h:6379");
    BOOST_TEST(!plain.tls);
    auto const u = Url::parse("rediss://:pw@cache.example:6380/1");
    BOOST_TEST(u.tls);
    BOOST_TEST(u.verify_peer); // checked by default
    BOOST_TEST(u.ca_file.empty());
    BOOST_TEST(u.port == 6380);
    BOOST_TEST(u.redacted() == "rediss://:***@cache.example:6380/1");
    auto const v = Url::parse("rediss://h?ssl_cert_reqs=none");
    BOOST_TEST(!v.verify_peer);
    auto const w = Url::parse("rediss://h?ssl_ca_certs=%2Fetc%2Fredis%2Fca.pem&ssl_cert_reqs=required");
    BOOST_TEST(w.ca_file == "/etc/redis/ca.pem");
    BOOST_TEST(w.verify_peer);
}

BOOST_AUTO_TEST_CASE(bad_urls_are_refused_with_the_url_named) {
    for (std::string const bad :
         {"http://h:6379", "rediss://h:6379?ssl_cert_reqs=maybe", "rediss://h?verify=no",
          "rediss://h?ssl_ca_certs=", "redis://h?ssl_cert_reqs=none", "redis://", "redis://:6379", "redis://h:0",
          "redis://h:65536", "redis://h:port", "redis://h/x", "redis://h/-1", "redis://h/1/2",
          "redis://h?db=1", "localhost:6379", "", "redis://h:6379 "}) {
        std::string what = "(nothing thrown)";
        try {
            (void)Url::parse(bad);
        } catch (std::invalid_argument const& e) {
            what = e.what();
        }
        BOOST_TEST(what.starts_with("Redis URL '" + bad + "' is invalid"), bad << ": " << what);
    }
}

BOOST_AUTO_TEST_SUITE_END()
