// Sessions: the memory store (expiry, bound), Session keys and rotation, SessionMiddleware
// (cookie set after HTTP responses, unknown or tampered ids), and auth login/logout.
#include <canal/middleware/session_middleware.hpp>

#include <canal/middleware/auth_middleware.hpp>
#include <canal/middleware/cookie_middleware.hpp>
#include <canal/middleware/memory_session_store.hpp>

#include "middleware_test_helpers.hpp"

#include <boost/test/unit_test.hpp>

#include <set>

using namespace canal;
using namespace std::chrono_literals;
using canal::test::run_sync;

namespace {

/** A clock the test moves by hand. */
struct FakeClock {
    std::shared_ptr<std::chrono::steady_clock::time_point> now =
        std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    MemorySessionStore::Clock fn() const {
        auto p = now;
        return [p] { return *p; };
    }
};

boost::json::object one(char const* k, char const* v) {
    boost::json::object o;
    o[k] = v;
    return o;
}

/** An HTTP application that sets session["visits"] += 1 and answers 200. */
awaitable<void> count_visits(Scope scope, Receive, Send send) {
    auto& session = *scope.session;
    std::int64_t visits = 0;
    if (auto const* v = session.get("visits"); v != nullptr && v->is_int64()) {
        visits = v->as_int64();
    }
    session.set("visits", visits + 1);
    HttpResponseStart start;
    start.status = 200;
    Event head = std::move(start);
    co_await send(std::move(head));
    Event body = HttpResponseBody{std::to_string(visits + 1), false};
    co_await send(std::move(body));
}

/** An HTTP application that only answers (does not touch the session). */
awaitable<void> just_answer(Scope, Receive, Send send) {
    Event head = HttpResponseStart{204, {}};
    co_await send(std::move(head));
    Event body = HttpResponseBody{};
    co_await send(std::move(body));
}

/** A websocket application that stores a value in its session and saves it explicitly. */
awaitable<void> ws_saves(Scope scope, Receive receive, Send send) {
    (void)co_await receive(); // connect
    Event accept = WebsocketAccept{};
    co_await send(std::move(accept));
    scope.session->set("seen", "yes");
    co_await scope.session->save();
}

std::string cookie_value(std::string const& set_cookie) {
    auto const eq = set_cookie.find('=');
    auto const semi = set_cookie.find(';');
    return set_cookie.substr(eq + 1, semi - eq - 1);
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

} // namespace

BOOST_AUTO_TEST_SUITE(sessions)

BOOST_AUTO_TEST_CASE(memory_store_saves_loads_and_expires) {
    FakeClock clock;
    MemorySessionStore store(10, clock.fn());
    run_sync(store.save("k1", one("a", "b"), 60s));
    auto loaded = run_sync(store.load("k1"));
    BOOST_REQUIRE(loaded.has_value());
    BOOST_TEST(loaded->at("a").as_string() == "b");
    BOOST_TEST(!run_sync(store.load("nope")).has_value());
    *clock.now += 59s;
    BOOST_TEST(run_sync(store.load("k1")).has_value());
    *clock.now += 2s;
    BOOST_TEST(!run_sync(store.load("k1")).has_value()); // expired: gone
    BOOST_TEST(store.size() == 0U);
    run_sync(store.save("k2", one("x", "y"), 60s));
    run_sync(store.remove("k2"));
    BOOST_TEST(!run_sync(store.load("k2")).has_value());
}

BOOST_AUTO_TEST_CASE(memory_store_is_bounded) {
    FakeClock clock;
    MemorySessionStore store(3, clock.fn());
    for (int i = 0; i < 3; ++i) {
        run_sync(store.save("k" + std::to_string(i), one("i", "x"), std::chrono::seconds(100 + i)));
    }
    run_sync(store.save("k3", one("i", "x"), 500s));
    BOOST_TEST(store.size() == 3U);
    BOOST_TEST(!run_sync(store.load("k0")).has_value()); // closest to expiry was evicted
    BOOST_TEST(run_sync(store.load("k3")).has_value());
}

BOOST_AUTO_TEST_CASE(keys_are_256_random_bits) {
    std::set<std::string> keys;
    for (int i = 0; i < 100; ++i) {
        auto k = Session::new_key();
        BOOST_TEST(k.size() == 64U);
        BOOST_TEST(Session::is_valid_key(k));
        keys.insert(k);
    }
    BOOST_TEST(keys.size() == 100U);
    BOOST_TEST(!Session::is_valid_key("abc"));
    BOOST_TEST(!Session::is_valid_key(std::string(64, 'G')));
    BOOST_TEST(!Session::is_valid_key(std::string(64, 'A'))); // upper case is not ours
}

BOOST_AUTO_TEST_CASE(session_save_cycle_and_flush) {
    auto store = std::make_shared<MemorySessionStore>();
    Session s(store, "", {}, 60s);
    BOOST_TEST(s.key().empty());
    run_sync(s.save()); // empty: nothing stored, still no key
    BOOST_TEST(s.key().empty());
    s.set("a", 1);
    BOOST_TEST(s.modified());
    run_sync(s.save());
    BOOST_TEST(!s.modified());
    auto const first = s.key();
    BOOST_TEST(Session::is_valid_key(first));
    BOOST_TEST(run_sync(store->load(first)).has_value());

    s.cycle_key();
    run_sync(s.save());
    BOOST_TEST(s.key() != first);
    BOOST_TEST(!run_sync(store->load(first)).has_value()); // the old key is gone
    auto const second = s.key();
    BOOST_TEST(run_sync(store->load(second))->at("a").as_int64() == 1);

    s.flush();
    BOOST_TEST(s.empty());
    run_sync(s.save());
    BOOST_TEST(s.key().empty());
    BOOST_TEST(!run_sync(store->load(second)).has_value());
    BOOST_TEST(store->size() == 0U);
}

BOOST_AUTO_TEST_CASE(middleware_sets_cookie_after_response_and_reloads) {
    auto store = std::make_shared<MemorySessionStore>();
    Application app = CookieMiddleware(SessionMiddleware(&count_visits, store));
    auto first = test::drive(app, test::http_scope("/"));
    BOOST_TEST(body_of(first->sent) == "1");
    auto cookies = test::set_cookies(first->sent);
    BOOST_REQUIRE(cookies.size() == 1U);
    BOOST_TEST(cookies[0].starts_with("sessionid="));
    BOOST_TEST(cookies[0].find("HttpOnly") != std::string::npos);
    BOOST_TEST(cookies[0].find("SameSite=Lax") != std::string::npos);
    BOOST_TEST(cookies[0].find("Max-Age=1209600") != std::string::npos);
    BOOST_TEST(cookies[0].find("Secure") == std::string::npos);
    auto const key = cookie_value(cookies[0]);
    BOOST_TEST(Session::is_valid_key(key));

    auto second = test::drive(app, test::http_scope("/", {{"cookie", "sessionid=" + key}}));
    BOOST_TEST(body_of(second->sent) == "2");

    // Over TLS the cookie is Secure.
    auto tls_scope = test::http_scope("/");
    tls_scope.scheme = "https";
    auto tls = test::drive(app, tls_scope);
    BOOST_TEST(test::set_cookies(tls->sent).at(0).find("; Secure") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unmodified_session_sets_no_cookie) {
    auto store = std::make_shared<MemorySessionStore>();
    Application app = CookieMiddleware(SessionMiddleware(&just_answer, store));
    auto ex = test::drive(app, test::http_scope("/"));
    BOOST_TEST(test::set_cookies(ex->sent).empty());
    BOOST_TEST(store->size() == 0U);
}

BOOST_AUTO_TEST_CASE(unknown_or_tampered_ids_give_an_empty_session) {
    auto store = std::make_shared<MemorySessionStore>();
    Application app = CookieMiddleware(SessionMiddleware(&count_visits, store));
    auto const key =
        cookie_value(test::set_cookies(test::drive(app, test::http_scope("/"))->sent).at(0));

    auto tampered = key;
    tampered[10] = tampered[10] == 'a' ? 'b' : 'a';
    for (auto const& bad :
         {tampered, std::string("../../etc/passwd"), key + "0", std::string("")}) {
        auto ex = test::drive(app, test::http_scope("/", {{"cookie", "sessionid=" + bad}}));
        BOOST_TEST(body_of(ex->sent) == "1", "cookie '" << bad << "' must give an empty session");
        // The client's id is never adopted: a fresh key is issued.
        auto const issued = cookie_value(test::set_cookies(ex->sent).at(0));
        BOOST_TEST(issued != bad);
        BOOST_TEST(issued != key);
    }
}

BOOST_AUTO_TEST_CASE(server_side_expiry) {
    FakeClock clock;
    auto store = std::make_shared<MemorySessionStore>(100, clock.fn());
    SessionSettings settings;
    settings.max_age = 30s;
    Application app = CookieMiddleware(SessionMiddleware(&count_visits, store, settings));
    auto const cookie = test::set_cookies(test::drive(app, test::http_scope("/"))->sent).at(0);
    BOOST_TEST(cookie.find("Max-Age=30") != std::string::npos);
    auto const key = cookie_value(cookie);
    *clock.now += 29s;
    auto ex = test::drive(app, test::http_scope("/", {{"cookie", "sessionid=" + key}}));
    BOOST_TEST(body_of(ex->sent) == "2"); // and the save renewed it for 30 s
    *clock.now += 31s;
    ex = test::drive(app, test::http_scope("/", {{"cookie", "sessionid=" + key}}));
    BOOST_TEST(body_of(ex->sent) == "1"); // expired on the server, whatever the cookie says
}

BOOST_AUTO_TEST_CASE(websocket_consumers_save_explicitly) {
    auto store = std::make_shared<MemorySessionStore>();
    Application http = CookieMiddleware(SessionMiddleware(&count_visits, store));
    auto const key =
        cookie_value(test::set_cookies(test::drive(http, test::http_scope("/"))->sent).at(0));

    Application ws = CookieMiddleware(SessionMiddleware(&ws_saves, store));
    auto scope = test::http_scope("/ws/", {{"cookie", "sessionid=" + key}});
    scope.type = "websocket";
    scope.scheme = "ws";
    auto ex = test::drive(ws, scope, {WebsocketConnect{}});
    // Nothing is added to websocket events; the save went to the store under the same key.
    BOOST_REQUIRE(ex->sent.size() == 1U);
    BOOST_TEST(std::holds_alternative<WebsocketAccept>(ex->sent[0]));
    auto saved = run_sync(store->load(key));
    BOOST_REQUIRE(saved.has_value());
    BOOST_TEST(saved->at("seen").as_string() == "yes");
    BOOST_TEST(saved->at("visits").as_int64() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
