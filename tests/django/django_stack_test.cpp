// Database on a real SQLite file laid out as Django's migrations lay it out, and the Django
// middleware stack over it: who scope.user is for every kind of session cookie.
#include <canal/django/django_auth_middleware.hpp>

#include <canal/django/django_session_store.hpp>
#include <canal/django/session_codec.hpp>
#include <canal/middleware/session.hpp>
#include <canal/middleware/user.hpp>

#include <canal/redis/client.hpp>

#include "middleware/middleware_test_helpers.hpp"
#include "support/redis_server.hpp"

#include <boost/json/serialize.hpp>

#include <boost/test/unit_test.hpp>

#include <sqlite3.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

using namespace canal;
using namespace canal::django;
using namespace std::chrono_literals;

namespace {

std::string const secret = "stack-test-secret";
std::string const backend = "django.contrib.auth.backends.ModelBackend";

std::string utc(std::chrono::system_clock::time_point t) {
    std::time_t const s = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&s, &tm);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S.000000", &tm);
    return buffer;
}

// A SQLite database with Django's django_session and auth_user tables (as migrated by
// Django 3.2's sqlite3 backend), removed afterwards.
struct SiteDb {
    std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                ("canal-django-test-" + std::to_string(::getpid()));
    std::filesystem::path file = dir / "db.sqlite3";
    sqlite3* db = nullptr;

    SiteDb() {
        std::filesystem::create_directories(dir);
        std::filesystem::remove(file);
        BOOST_TEST_REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
        exec(R"(CREATE TABLE "django_session" ("session_key" varchar(40) NOT NULL PRIMARY KEY,
                "session_data" text NOT NULL, "expire_date" datetime NOT NULL);
            CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
                "password" varchar(128) NOT NULL, "last_login" datetime NULL,
                "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE,
                "last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL,
                "is_staff" bool NOT NULL, "is_active" bool NOT NULL,
                "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL);)");
        add_user(1, "alice", "pbkdf2_sha256$1$a$alice", false, true, false);
        add_user(2, "boss", "pbkdf2_sha256$1$b$boss", true, true, true);
        add_user(3, "gone", "pbkdf2_sha256$1$c$gone", false, false, false);
    }
    ~SiteDb() {
        sqlite3_close(db);
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    void exec(std::string const& sql) {
        char* error = nullptr;
        int const rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
        BOOST_TEST_REQUIRE(rc == SQLITE_OK, (error != nullptr ? error : "") << " in " << sql);
    }

    void add_user(int id, std::string const& name, std::string const& password, bool staff,
                  bool active, bool superuser) {
        exec("INSERT INTO auth_user VALUES (" + std::to_string(id) + ", '" + password +
             "', NULL, " + std::to_string(superuser) + ", '" + name + "', '', '', " +
             std::to_string(staff) + ", " + std::to_string(active) +
             ", '2026-01-01 00:00:00', '')");
    }

    // A session row as Django's db engine writes it; returns its key.
    std::string add_session(std::string const& key, boost::json::object const& data,
                            std::chrono::system_clock::duration expires_in = 24h) {
        auto const now = std::chrono::system_clock::now();
        auto const encoded = dumps(data, secret, session_store_salt, true, now);
        exec("INSERT INTO django_session VALUES ('" + key + "', '" + encoded + "', '" +
             utc(now + expires_in) + "')");
        return key;
    }
};

// The session of user `id` as django.contrib.auth.login() leaves it.
boost::json::object logged_in(std::string const& id, std::string const& password) {
    boost::json::object data;
    data["_auth_user_id"] = id;
    data["_auth_user_backend"] = backend;
    data["_auth_user_hash"] = session_auth_hash(password, secret);
    return data;
}

std::shared_ptr<DjangoSettings> settings_for(std::string const& url,
                                             SessionEngine engine = SessionEngine::db) {
    auto s = std::make_shared<DjangoSettings>();
    s->secret_key = secret;
    s->engine = engine;
    s->database = Database::open(url);
    return s;
}

struct Seen {
    std::shared_ptr<User const> user;
    boost::json::object extensions;
    std::string session_key;
};

// scope.user (and more) for a request carrying `cookie`, through DjangoAuthMiddlewareStack.
Seen seen_with(std::shared_ptr<DjangoSettings const> settings, std::string const& cookie) {
    auto seen = std::make_shared<Seen>();
    Application inner = [seen](Scope scope, Receive, Send) -> awaitable<void> {
        seen->user = scope.user;
        seen->extensions = scope.extensions;
        seen->session_key = scope.session ? scope.session->key() : "<none>";
        return canal::test::nothing();
    };
    DjangoAuthMiddlewareStack stack(inner, std::move(settings));
    Headers headers;
    if (!cookie.empty()) {
        headers.emplace_back("cookie", cookie);
    }
    canal::test::drive(stack, canal::test::http_scope("/", std::move(headers)));
    BOOST_TEST_REQUIRE(seen->user != nullptr);
    return *seen;
}

std::string name_seen(std::shared_ptr<DjangoSettings const> settings, std::string const& cookie) {
    return seen_with(std::move(settings), cookie).user->username;
}

} // namespace

BOOST_AUTO_TEST_SUITE(database)

BOOST_AUTO_TEST_CASE(reads_sessions_until_they_expire_and_users) {
    SiteDb site;
    site.add_session("k1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", logged_in("1", "x"));
    site.add_session("k2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", logged_in("1", "x"), -1s);
    auto db = Database::open("sqlite://" + site.file.string());
    auto const now = std::chrono::system_clock::now();
    BOOST_TEST(db->session_data("k1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", now).has_value());
    BOOST_TEST(!db->session_data("k2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", now)); // expired
    BOOST_TEST(!db->session_data("nosuchkeyaaaaaaaaaaaaaaaaaaaaaaa", now));
    auto const boss = db->user("2");
    BOOST_TEST_REQUIRE(boss.has_value());
    BOOST_TEST(boss->username == "boss");
    BOOST_TEST(boss->id == "2");
    BOOST_TEST(boss->is_staff);
    BOOST_TEST(boss->is_superuser);
    BOOST_TEST(boss->is_active);
    BOOST_TEST(boss->password == "pbkdf2_sha256$1$b$boss");
    BOOST_TEST(!db->user("99"));
    BOOST_TEST(!db->user("1 OR 1=1")); // a parameter, never SQL
}

BOOST_AUTO_TEST_CASE(bad_urls_and_a_missing_database_are_errors) {
    BOOST_CHECK_THROW(Database::open("mysql://x/y"), std::invalid_argument);
    BOOST_CHECK_THROW(Database::open("sqlite://"), std::invalid_argument);
    DatabaseOptions bad_table;
    bad_table.user_table = "auth_user; DROP TABLE x";
    BOOST_CHECK_THROW(Database::open("sqlite:///x", bad_table), std::invalid_argument);
    auto db = Database::open("sqlite:///nonexistent/dir/db.sqlite3");
    BOOST_CHECK_THROW(db->user("1"), DatabaseError);
    BOOST_CHECK_THROW(db->user("1"), DatabaseError); // the failed connection was not kept
    // Nothing listens on port 1: refused at once.
    auto pg = Database::open("postgresql://canal@127.0.0.1:1/none?connect_timeout=2");
    BOOST_CHECK_THROW(pg->user("1"), DatabaseError);
}

BOOST_AUTO_TEST_CASE(the_pool_reuses_connections_from_many_threads) {
    SiteDb site;
    DatabaseOptions options;
    options.pool_size = 2;
    auto db = Database::open("sqlite://" + site.file.string(), options);
    std::vector<std::thread> threads;
    std::atomic<int> found{0};
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                if (db->user("1")) {
                    ++found;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    BOOST_TEST(found.load() == 300);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(stack)

BOOST_AUTO_TEST_CASE(a_db_session_logs_the_user_in) {
    SiteDb site;
    auto const key = site.add_session("alicekey00000000000000000000000a",
                                      logged_in("1", "pbkdf2_sha256$1$a$alice"));
    auto const boss = site.add_session("bosskey000000000000000000000000a",
                                       logged_in("2", "pbkdf2_sha256$1$b$boss"));
    auto settings = settings_for("sqlite://" + site.file.string());
    auto const alice = seen_with(settings, "sessionid=" + key);
    BOOST_TEST(alice.user->username == "alice");
    BOOST_TEST(!alice.user->is_staff);
    BOOST_TEST(alice.session_key == key);
    auto const& row = alice.extensions.at("django_user").as_object();
    BOOST_TEST(row.at("id") == "1");
    BOOST_TEST(row.at("is_superuser") == false);
    auto const staff = seen_with(settings, "sessionid=" + boss);
    BOOST_TEST(staff.user->username == "boss");
    BOOST_TEST(staff.user->is_staff);
    BOOST_TEST(staff.extensions.at("django_user").as_object().at("is_superuser") == true);
    // Another cookie name.
    settings->cookie_name = "site_session";
    BOOST_TEST(name_seen(settings, "site_session=" + key) == "alice");
    BOOST_TEST(name_seen(settings, "sessionid=" + key) == "");
}

BOOST_AUTO_TEST_CASE(whatever_django_would_refuse_is_anonymous) {
    SiteDb site;
    auto settings = settings_for("sqlite://" + site.file.string());
    auto const cookie = [](std::string const& key) { return "sessionid=" + key; };
    // No cookie, an unknown key, a malformed key.
    BOOST_TEST(name_seen(settings, "") == "");
    BOOST_TEST(name_seen(settings, cookie("unknownkey000000000000000000000a")) == "");
    BOOST_TEST(name_seen(settings, cookie("BAD KEY'--")) == "");
    // The password changed since the login (the hash is of the old one).
    auto const old = site.add_session("oldpassword000000000000000000000",
                                      logged_in("1", "pbkdf2_sha256$1$a$before"));
    BOOST_TEST(name_seen(settings, cookie(old)) == "");
    // No hash at all.
    auto no_hash = logged_in("1", "pbkdf2_sha256$1$a$alice");
    no_hash.erase("_auth_user_hash");
    BOOST_TEST(name_seen(settings, cookie(site.add_session("nohash00000000000000000000000000",
                                                           no_hash))) == "");
    // An inactive user, an unknown user, a non-numeric id.
    BOOST_TEST(name_seen(settings, cookie(site.add_session("inactive000000000000000000000000",
                                                           logged_in("3", "pbkdf2_sha256$1$c$gone")))) == "");
    BOOST_TEST(name_seen(settings, cookie(site.add_session("unknownuser000000000000000000000",
                                                           logged_in("42", "x")))) == "");
    BOOST_TEST(name_seen(settings, cookie(site.add_session("badid000000000000000000000000000",
                                                           logged_in("1; --", "x")))) == "");
    // A backend the site does not list.
    auto other = logged_in("1", "pbkdf2_sha256$1$a$alice");
    other["_auth_user_backend"] = "myapp.backends.Evil";
    BOOST_TEST(name_seen(settings, cookie(site.add_session("otherbackend00000000000000000000",
                                                           other))) == "");
    // An expired row.
    BOOST_TEST(name_seen(settings, cookie(site.add_session("expired0000000000000000000000000",
                                                           logged_in("1", "pbkdf2_sha256$1$a$alice"),
                                                           -1s))) == "");
    // Session data signed with another secret.
    auto const now = std::chrono::system_clock::now();
    site.exec("INSERT INTO django_session VALUES ('forged0000000000000000000000000a', '" +
              dumps(logged_in("1", "pbkdf2_sha256$1$a$alice"), "not the secret",
                    session_store_salt, true, now) +
              "', '2999-01-01 00:00:00')");
    BOOST_TEST(name_seen(settings, cookie("forged0000000000000000000000000a")) == "");
}

BOOST_AUTO_TEST_CASE(an_inactive_user_passes_with_allow_all_users_backend) {
    SiteDb site;
    auto settings = settings_for("sqlite://" + site.file.string());
    settings->authentication_backends.push_back(
        "django.contrib.auth.backends.AllowAllUsersModelBackend");
    auto data = logged_in("3", "pbkdf2_sha256$1$c$gone");
    data["_auth_user_backend"] = "django.contrib.auth.backends.AllowAllUsersModelBackend";
    auto const key = site.add_session("allowall00000000000000000000000a", data);
    BOOST_TEST(name_seen(settings, "sessionid=" + key) == "gone");
}

BOOST_AUTO_TEST_CASE(signed_cookie_sessions) {
    SiteDb site;
    auto settings = settings_for("sqlite://" + site.file.string(), SessionEngine::signed_cookies);
    auto const now = std::chrono::system_clock::now();
    auto const good = dumps(logged_in("1", "pbkdf2_sha256$1$a$alice"), secret,
                            signed_cookies_salt, true, now);
    BOOST_TEST(name_seen(settings, "sessionid=" + good) == "alice");
    auto bad = good;
    bad.back() = bad.back() == 'x' ? 'y' : 'x';
    BOOST_TEST(name_seen(settings, "sessionid=" + bad) == "");
    auto const old = dumps(logged_in("1", "pbkdf2_sha256$1$a$alice"), secret, signed_cookies_salt,
                           true, now - settings->cookie_age - 5s);
    BOOST_TEST(name_seen(settings, "sessionid=" + old) == "");
    // A db engine's data is not a cookie session (another salt).
    auto const db_data = dumps(logged_in("1", "pbkdf2_sha256$1$a$alice"), secret,
                               session_store_salt, true, now);
    BOOST_TEST(name_seen(settings, "sessionid=" + db_data) == "");
}

BOOST_AUTO_TEST_CASE(a_database_that_is_down_gives_anonymous_users) {
    auto settings = settings_for("sqlite:///nonexistent/dir/db.sqlite3");
    BOOST_TEST(name_seen(settings, "sessionid=alicekey00000000000000000000000a") == "");
    auto cookie_settings = settings_for("sqlite:///nonexistent/dir/db.sqlite3",
                                        SessionEngine::signed_cookies);
    auto const cookie = dumps(logged_in("1", "x"), secret, signed_cookies_salt, true,
                              std::chrono::system_clock::now());
    BOOST_TEST(name_seen(cookie_settings, "sessionid=" + cookie) == "");
}

BOOST_AUTO_TEST_CASE(django_sessions_are_read_only) {
    SiteDb site;
    auto settings = settings_for("sqlite://" + site.file.string());
    DjangoSessionStore store(settings);
    boost::json::object data;
    BOOST_CHECK_THROW(canal::test::run_sync(store.save("abcdefgh", data, 10s)), canal::Error);
    BOOST_CHECK_THROW(canal::test::run_sync(store.remove("abcdefgh")), canal::Error);
    auto incomplete = std::make_shared<DjangoSettings>();
    BOOST_CHECK_THROW(DjangoSessionStore{incomplete}, std::invalid_argument);
    incomplete->secret_key = "k";
    BOOST_CHECK_THROW(DjangoSessionStore{incomplete}, std::invalid_argument); // no database
    BOOST_CHECK_THROW(parse_session_engine("file"), std::invalid_argument);
    BOOST_TEST((parse_session_engine("django.contrib.sessions.backends.signed_cookies") ==
                SessionEngine::signed_cookies));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cache_engine)

// django-redis' entry of a session: `:1:django.contrib.sessions.cache<key>`, the session
// dict serialized by its JSONSerializer (not signed: the cache is trusted, as by Django).
BOOST_AUTO_TEST_CASE(sessions_in_django_redis) {
    SiteDb site;
    canal::test::RedisProcess redis;
    auto client = std::make_shared<canal::redis::Client>(canal::redis::Url::parse(redis.url()));
    auto const put = [&](std::string const& key, std::string const& value) {
        canal::redis::Command set;
        set.emplace_back("SET");
        set.push_back(":1:django.contrib.sessions.cache" + key);
        set.push_back(value);
        (void)canal::test::run_sync(client->command(std::move(set)));
    };
    canal::test::run_sync(client->connect());
    put("cachekey000000000000000000000001",
        boost::json::serialize(logged_in("2", "pbkdf2_sha256$1$b$boss")));
    // What django-redis writes with its default serializer: a pickle, which canal cannot read.
    put("pickled0000000000000000000000001", std::string("\x80\x05\x95\x10\x00", 5));
    auto settings = settings_for("sqlite://" + site.file.string(), SessionEngine::cache);
    settings->cache = client;
    BOOST_TEST(name_seen(settings, "sessionid=cachekey000000000000000000000001") == "boss");
    BOOST_TEST(name_seen(settings, "sessionid=pickled0000000000000000000000001") == "");
    BOOST_TEST(name_seen(settings, "sessionid=missing0000000000000000000000001") == "");
    // Redis away: anonymous, with a warning.
    redis.stop();
    BOOST_TEST(name_seen(settings, "sessionid=cachekey000000000000000000000001") == "");
}

BOOST_AUTO_TEST_SUITE_END()
