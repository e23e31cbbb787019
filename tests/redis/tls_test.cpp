// rediss://: canal's Redis client and Redis layer over TLS to a real redis-server started
// with a throwaway certificate (made by the openssl command): checked against a CA file,
// refused when it cannot be checked, unchecked on request, and the mismatches (TLS to a
// plain port, plain to a TLS port) failing within the connect timeout.
#include <canal/redis/client.hpp>

#include <canal/core/errors.hpp>
#include <canal/layers/redis_channel_layer.hpp>

#include "support/async_run.hpp"
#include "support/redis_server.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {

using canal::redis::Client;
using canal::redis::ClientOptions;
using canal::redis::Command;
using canal::redis::Url;
using canal::test::RedisProcess;
using canal::test::run_sync;
namespace fs = std::filesystem;

/** A self-signed certificate for 127.0.0.1 and localhost, in a temporary directory. */
struct Certificate {
    fs::path dir;
    Certificate() {
        std::string pattern = (fs::temp_directory_path() / "canal-tls-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir = pattern;
        auto const command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
                             " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '" +
                             key().string() + "' -out '" + cert().string() + "' 2>/dev/null";
        if (std::system(command.c_str()) != 0) {
            throw std::runtime_error("openssl could not make a certificate");
        }
    }
    ~Certificate() {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
    }
    Certificate(Certificate const&) = delete;
    Certificate& operator=(Certificate const&) = delete;
    [[nodiscard]] fs::path cert() const { return dir / "cert.pem"; }
    [[nodiscard]] fs::path key() const { return dir / "key.pem"; }
};

/** redis-server with a TLS port beside its plain one. */
struct TlsRedis {
    Certificate certificate;
    unsigned short tls_port = canal::test::free_loopback_port();
    RedisProcess server{{"--tls-port", std::to_string(tls_port), "--tls-cert-file",
                         certificate.cert().string(), "--tls-key-file", certificate.key().string(),
                         "--tls-ca-cert-file", certificate.cert().string(), "--tls-auth-clients",
                         "no"}};

    [[nodiscard]] std::string url(std::string const& host, std::string const& query) const {
        return "rediss://" + host + ":" + std::to_string(tls_port) + (query.empty() ? "" : "?") +
               query;
    }
    [[nodiscard]] std::string ca_query() const {
        return "ssl_ca_certs=" + certificate.cert().string();
    }
};

bool contains(std::string const& text, std::string const& part) {
    return text.find(part) != std::string::npos;
}

// What connect() throws ("(nothing thrown)" otherwise).
std::string connect_error(Client& client) {
    try {
        run_sync(client.connect());
    } catch (canal::Error const& e) {
        return e.what();
    }
    return "(nothing thrown)";
}

ClientOptions quick() {
    ClientOptions options;
    options.connect_timeout = 1500ms;
    return options;
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_tls)

BOOST_AUTO_TEST_CASE(rediss_checks_the_certificate_against_the_ca_file_by_ip_and_by_name) {
    TlsRedis redis;
    for (std::string host : {"127.0.0.1", "localhost"}) {
        Client client(Url::parse(redis.url(host, redis.ca_query())), quick());
        run_sync(client.connect());
        (void)run_sync(client.command(Command{"SET", "over", "tls"}));
        BOOST_TEST(run_sync(client.command(Command{"GET", "over"})).str == "tls");
        auto const info = run_sync(client.command(Command{"CLIENT", "INFO"}));
        BOOST_TEST(contains(info.str, "laddr="), info.str);
    }
}

BOOST_AUTO_TEST_CASE(a_certificate_that_cannot_be_checked_is_refused_unless_told_not_to_check) {
    TlsRedis redis;
    // The system's CAs do not know the throwaway certificate.
    Client unknown(Url::parse(redis.url("127.0.0.1", "")), quick());
    auto const what = connect_error(unknown);
    BOOST_TEST(contains(what, "TLS handshake failed"), what);
    BOOST_TEST(contains(what, "certificate verify failed"), what);
    BOOST_TEST(!unknown.connected());
    // The CA file is right, the name is not the certificate's.
    Certificate other;
    Client wrong_ca(Url::parse(redis.url("127.0.0.1", "ssl_ca_certs=" + other.cert().string())),
                    quick());
    BOOST_TEST(contains(connect_error(wrong_ca), "TLS handshake failed"));
    // ssl_cert_reqs=none: encrypted, unchecked.
    Client unchecked(Url::parse(redis.url("127.0.0.1", "ssl_cert_reqs=none")), quick());
    run_sync(unchecked.connect());
    BOOST_TEST(run_sync(unchecked.command(Command{"PING"})).str == "PONG");
    // A CA file that does not exist is refused when the client is made, naming it.
    std::string missing = "(nothing thrown)";
    try {
        Client c(Url::parse(redis.url("127.0.0.1", "ssl_ca_certs=/nonexistent/ca.pem")));
    } catch (std::invalid_argument const& e) {
        missing = e.what();
    }
    BOOST_TEST(contains(missing, "cannot load the CA file '/nonexistent/ca.pem'"), missing);
}

BOOST_AUTO_TEST_CASE(tls_to_a_plain_port_and_plain_to_a_tls_port_fail_within_the_timeout) {
    TlsRedis redis;
    auto const start = std::chrono::steady_clock::now();
    Client tls_to_plain(Url::parse("rediss://" + redis.server.address() + "?ssl_cert_reqs=none"),
                        quick());
    auto const a = connect_error(tls_to_plain);
    BOOST_TEST((contains(a, "TLS handshake failed") || contains(a, "no answer within")), a);
    Client plain_to_tls(Url::parse("redis://127.0.0.1:" + std::to_string(redis.tls_port)),
                        quick());
    auto const b = connect_error(plain_to_tls);
    BOOST_TEST(b != "(nothing thrown)");
    BOOST_TEST((std::chrono::steady_clock::now() - start < 4s));
}

BOOST_AUTO_TEST_CASE(the_redis_layer_runs_over_rediss) {
    TlsRedis redis;
    canal::RedisLayerSettings settings;
    settings.hosts = {redis.url("127.0.0.1", redis.ca_query())};
    canal::RedisChannelLayer layer(settings);
    layer.wait_connected();
    canal::test::run_async([&]() -> canal::awaitable<void> {
        auto const channel = co_await layer.new_channel();
        co_await layer.group_add("tls-room", channel);
        boost::json::object obj;
        obj["type"] = "chat.message";
        obj["text"] = "encrypted on the wire";
        co_await layer.group_send("tls-room", canal::Message(std::move(obj)));
        auto const got = co_await layer.receive(channel);
        BOOST_TEST(got.at("text").as_string() == "encrypted on the wire");
    });
}

BOOST_AUTO_TEST_SUITE_END()
