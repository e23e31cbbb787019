// Auth: passwords (PBKDF2), the JSON user store, AuthMiddleware, login/logout rotating the
// session id, and CSRF tokens.
#include <canal/middleware/auth_middleware.hpp>

#include <canal/core/errors.hpp>
#include <canal/middleware/csrf.hpp>
#include <canal/middleware/json_file_user_store.hpp>
#include <canal/middleware/memory_session_store.hpp>
#include <canal/middleware/password.hpp>

#include "middleware_test_helpers.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace canal;
using canal::test::run_sync;

namespace {

/** A fresh directory, removed afterwards. */
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        auto base =
            std::filesystem::temp_directory_path() /
            ("canal-mw-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
        std::filesystem::create_directories(base);
        path = base;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    static int& counter() {
        static int n = 0;
        return n;
    }
};

std::string read_all(std::filesystem::path const& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/** Logs in the user named by the `login` header, logs out on `logout`, then answers 200 with
 * "<username>|<session key before>". */
awaitable<void> auth_view(Scope scope, Receive, Send send) {
    std::string before = scope.session->key();
    if (auto const* who = scope.header("x-login")) {
        login(scope, User{*who, false});
    }
    if (scope.header("x-logout") != nullptr) {
        logout(scope);
    }
    Event head = HttpResponseStart{200, {}};
    co_await send(std::move(head));
    Event body = HttpResponseBody{scope.user->username + "|" + before, false};
    co_await send(std::move(body));
}

std::string body_of(std::vector<Event> const& sent) {
    std::string out;
    for (auto const& ev : sent) {
        if (auto const* b = std::get_if<HttpResponseBody>(&ev)) {
            out += b->body;
        }
    }
    return out;
}

std::string cookie_value(std::string const& set_cookie) {
    auto const eq = set_cookie.find('=');
    return set_cookie.substr(eq + 1, set_cookie.find(';') - eq - 1);
}

} // namespace

BOOST_AUTO_TEST_SUITE(passwords)

BOOST_AUTO_TEST_CASE(make_and_check) {
    auto const hash = make_password("s3cret", 1000);
    BOOST_TEST(hash.starts_with("pbkdf2_sha256$1000$"));
    BOOST_TEST(hash.find("s3cret") == std::string::npos);
    BOOST_TEST(check_password("s3cret", hash));
    BOOST_TEST(!check_password("s3cret!", hash));
    BOOST_TEST(!check_password("", hash));
    BOOST_TEST(make_password("s3cret", 1000) != hash); // per-password random salt
    BOOST_TEST(password_iterations(hash) == 1000U);
}

BOOST_AUTO_TEST_CASE(default_is_at_least_200k_iterations) {
    auto const hash = make_password("pw");
    BOOST_TEST(password_iterations(hash) >= 200000U);
    BOOST_TEST(check_password("pw", hash));
}

BOOST_AUTO_TEST_CASE(django_hash_verifies) {
    // In the format of Django's PBKDF2PasswordHasher ("hunter2", salt "seasalt",
    // 1000 iterations), computed independently with Python's hashlib.pbkdf2_hmac.
    std::string const django = "pbkdf2_sha256$1000$seasalt$"
                               "aZOLUDnbVq4qfmIhIFCkAqvDNHspRzj9l43SgVe7GOM=";
    BOOST_TEST(check_password("hunter2", django));
    BOOST_TEST(!check_password("hunter3", django));
}

BOOST_AUTO_TEST_CASE(malformed_hashes_are_false) {
    for (auto const* bad :
         {"", "pbkdf2_sha256", "pbkdf2_sha256$$salt$hash", "md5$1000$s$h", "pbkdf2_sha256$abc$s$h",
          "pbkdf2_sha256$1000$s$h$extra", "pbkdf2_sha256$0$s$h", "pbkdf2_sha256$1000$$h"}) {
        BOOST_TEST(!check_password("x", bad), bad);
        BOOST_TEST(password_iterations(bad) == 0U, bad);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(user_store)

BOOST_AUTO_TEST_CASE(create_authenticate_and_reload) {
    TempDir dir;
    auto const file = dir.path / "users.json";
    {
        JsonFileUserStore store(file); // missing file: empty
        BOOST_TEST(store.size() == 0U);
        store.create_user("alice", "wonderland", false, 1000);
        store.create_user("boss", "corner-office", true, 1000);
        BOOST_CHECK_THROW(store.create_user("alice", "again", false, 1000), std::invalid_argument);
        BOOST_CHECK_THROW(store.create_user("bad name", "x", false, 1000), std::invalid_argument);
        BOOST_CHECK_THROW(store.create_user("carol", "", false, 1000), std::invalid_argument);
    }
    auto const text = read_all(file);
    BOOST_TEST(text.find("wonderland") == std::string::npos); // no plaintext
    BOOST_TEST(text.find("pbkdf2_sha256$1000$") != std::string::npos);
    struct stat st {};
    BOOST_REQUIRE(::stat(file.c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600U);

    JsonFileUserStore store(file);
    BOOST_TEST(store.size() == 2U);
    auto alice = store.authenticate("alice", "wonderland");
    BOOST_REQUIRE(alice.has_value());
    BOOST_TEST(alice->username == "alice");
    BOOST_TEST(!alice->is_staff);
    BOOST_TEST(store.authenticate("boss", "corner-office")->is_staff);
    BOOST_TEST(!store.authenticate("alice", "Wonderland").has_value());
    BOOST_TEST(!store.authenticate("nobody", "wonderland").has_value());
    BOOST_TEST(store.get("boss").has_value());
    BOOST_TEST(!store.get("nobody").has_value());
}

BOOST_AUTO_TEST_CASE(aauthenticate_runs_off_the_caller_thread) {
    TempDir dir;
    auto users = std::make_shared<JsonFileUserStore>(dir.path / "users.json");
    users->create_user("alice", "wonderland", false, 1000);
    std::shared_ptr<UserStore const> store = users;
    // run_sync's io_context has no other work: aauthenticate must keep it running.
    auto ok = run_sync(aauthenticate(store, "alice", "wonderland"));
    BOOST_REQUIRE(ok.has_value());
    BOOST_TEST(ok->username == "alice");
    BOOST_TEST(!run_sync(aauthenticate(store, "alice", "nope")).has_value());
    BOOST_TEST(!run_sync(aauthenticate(store, "nobody", "x")).has_value());
    // Many at once, and the io_context destroyed right after each.
    for (int i = 0; i < 20; ++i) {
        BOOST_TEST(run_sync(aauthenticate(store, "alice", "wonderland")).has_value());
    }
}

BOOST_AUTO_TEST_CASE(bad_files_are_reported) {
    TempDir dir;
    for (auto const* text : {"not json", "{}", "{\"users\": [{\"username\": \"a\"}]}",
                             "{\"users\": [{\"username\": \"a\", \"password\": \"plain\"}]}"}) {
        auto const file = dir.path / "users.json";
        std::ofstream(file) << text;
        BOOST_CHECK_THROW(JsonFileUserStore{file}, canal::Error);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(auth)

BOOST_AUTO_TEST_CASE(login_rotates_the_session_and_auth_finds_the_user) {
    TempDir dir;
    auto users = std::make_shared<JsonFileUserStore>(dir.path / "users.json");
    users->create_user("alice", "pw", false, 1000);
    auto sessions = std::make_shared<MemorySessionStore>();
    Application app = AuthMiddlewareStack(&auth_view, sessions, users);

    // Anonymous visit; a session is created before login (e.g. by other data).
    auto anon = test::drive(app, test::http_scope("/"));
    BOOST_TEST(body_of(anon->sent) == "|");
    BOOST_TEST(test::set_cookies(anon->sent).empty());

    // A session an attacker could have planted: the login must not keep its id.
    Session planted(sessions, "", {}, std::chrono::seconds(600));
    planted.set("x", 1);
    run_sync(planted.save());
    auto const planted_key = planted.key();

    auto in = test::drive(
        app, test::http_scope("/", {{"cookie", "sessionid=" + planted_key}, {"x-login", "alice"}}));
    BOOST_TEST(body_of(in->sent) == "alice|" + planted_key);
    auto const key = cookie_value(test::set_cookies(in->sent).at(0));
    BOOST_TEST(key != planted_key);
    BOOST_TEST(!run_sync(sessions->load(planted_key)).has_value()); // old id deleted

    // The new session carries the user.
    auto again = test::drive(app, test::http_scope("/", {{"cookie", "sessionid=" + key}}));
    BOOST_TEST(body_of(again->sent) == "alice|" + key);

    // Logout: the session is flushed and the cookie deleted.
    auto out = test::drive(
        app, test::http_scope("/", {{"cookie", "sessionid=" + key}, {"x-logout", "1"}}));
    BOOST_TEST(body_of(out->sent) == "|" + key);
    auto const deleted = test::set_cookies(out->sent).at(0);
    BOOST_TEST(deleted.starts_with("sessionid=;"));
    BOOST_TEST(deleted.find("Max-Age=0") != std::string::npos);
    BOOST_TEST(!run_sync(sessions->load(key)).has_value());
    auto after = test::drive(app, test::http_scope("/", {{"cookie", "sessionid=" + key}}));
    BOOST_TEST(body_of(after->sent) == "|");
}

BOOST_AUTO_TEST_CASE(a_deleted_user_is_anonymous) {
    TempDir dir;
    auto users = std::make_shared<JsonFileUserStore>(dir.path / "users.json");
    auto sessions = std::make_shared<MemorySessionStore>();
    Session s(sessions, "", {}, std::chrono::seconds(600));
    s.set(auth_session_key, "ghost");
    run_sync(s.save());
    Application app = AuthMiddlewareStack(&auth_view, sessions, users);
    auto ex = test::drive(app, test::http_scope("/", {{"cookie", "sessionid=" + s.key()}}));
    BOOST_TEST(body_of(ex->sent) == "|" + s.key());
}

BOOST_AUTO_TEST_CASE(auth_without_session_is_an_error) {
    Scope scope;
    BOOST_CHECK_THROW(login(scope, User{"a", false}), canal::Error);
    BOOST_CHECK_THROW(logout(scope), canal::Error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(csrf)

BOOST_AUTO_TEST_CASE(masked_tokens_check_against_the_secret) {
    auto const secret = csrf_new_secret();
    BOOST_TEST(csrf_is_valid_secret(secret));
    auto const t1 = csrf_mask(secret);
    auto const t2 = csrf_mask(secret);
    BOOST_TEST(t1.size() == 128U);
    BOOST_TEST(t1 != t2); // a fresh mask each time
    BOOST_TEST(csrf_check(secret, t1));
    BOOST_TEST(csrf_check(secret, t2));
    BOOST_TEST(!csrf_check(csrf_new_secret(), t1));
    auto tampered = t1;
    tampered[100] = tampered[100] == '0' ? '1' : '0';
    BOOST_TEST(!csrf_check(secret, tampered));
    BOOST_TEST(!csrf_check(secret, secret)); // the bare secret is not a token
    BOOST_TEST(!csrf_check(secret, ""));
    BOOST_TEST(!csrf_check("", t1));
    BOOST_TEST(!csrf_check(secret, std::string(128, 'z')));
}

BOOST_AUTO_TEST_CASE(a_token_is_128_lower_case_hex_digits) {
    auto const secret = csrf_new_secret();
    auto const token = csrf_mask(secret);
    auto upper = token;
    for (auto& c : upper) {
        c = c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c;
    }
    BOOST_TEST_REQUIRE(upper != token);
    BOOST_TEST(!csrf_check(secret, upper));
    auto not_hex = token;
    not_hex[127] = 'g';
    BOOST_TEST(!csrf_check(secret, not_hex));
    BOOST_TEST(!csrf_check(secret, token.substr(0, 127)));
    BOOST_TEST(csrf_check(secret, token));
}

BOOST_AUTO_TEST_SUITE_END()
