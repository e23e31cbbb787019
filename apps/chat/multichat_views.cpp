// The multichat's HTTP side: the login and logout views, the pages, and the application
// that puts them and the websocket behind one router.
#include "multichat_app.hpp"

#include <canal/middleware/auth_middleware.hpp>
#include <canal/middleware/cookie_middleware.hpp>
#include <canal/middleware/csrf.hpp>
#include <canal/middleware/memory_session_store.hpp>
#include <canal/middleware/origin_validator.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/server/static_files.hpp>

#include <boost/json/serialize.hpp>
#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace chat {

// --- HTTP views -------------------------------------------------------------------------

namespace {

struct Views {
    std::filesystem::path static_dir;
    std::string login_url;
    std::string logout_url;
    std::function<std::string(canal::Scope const&)> csrf_token;
    std::shared_ptr<canal::UserStore const> users;
    std::shared_ptr<MultichatContext const> context;
    std::shared_ptr<LoginThrottle> throttle;
};

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#x27;";
            break;
        default:
            out.push_back(c);
        }
    }
    return out;
}

std::string read_text(std::filesystem::path const& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw canal::Error("cannot read " + file.string());
    }
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
    for (auto at = text.find(what); at != std::string::npos;
         at = text.find(what, at + with.size())) {
        text.replace(at, what.size(), with);
    }
}

canal::HttpResponseStart response_start(int status, std::string content_type) {
    canal::HttpResponseStart start;
    start.status = status;
    start.headers.emplace_back("content-type", std::move(content_type));
    start.headers.emplace_back("cache-control", "no-store");
    return start;
}

canal::awaitable<void> respond(canal::Send send, canal::HttpResponseStart start, std::string body) {
    canal::Event head = std::move(start);
    co_await send(std::move(head));
    canal::Event part = canal::HttpResponseBody{std::move(body), false};
    co_await send(std::move(part));
}

canal::awaitable<void> redirect(canal::Send send, std::string location) {
    auto start = response_start(302, "text/plain; charset=utf-8");
    start.headers.emplace_back("location", std::move(location));
    co_await respond(std::move(send), std::move(start), std::string("redirecting\n"));
}

// The CSRF secret of the csrftoken cookie, or "" when there is none (or it is malformed).
std::string csrf_secret_of(canal::Scope const& scope) {
    auto const cookie = scope.cookies.find(canal::csrf_cookie_name);
    return cookie != scope.cookies.end() && canal::csrf_is_valid_secret(cookie->second)
               ? cookie->second
               : std::string();
}

// Sets the csrftoken cookie (a year, like Django's CSRF_COOKIE_AGE).
void set_csrf_cookie(canal::HttpResponseStart& start, canal::Scope const& scope,
                     std::string const& secret) {
    canal::CookieOptions options;
    options.max_age = std::chrono::hours(24 * 365);
    options.secure = canal::is_secure(scope);
    canal::set_cookie(start, canal::csrf_cookie_name, secret, options);
}

// A page with `{{csrf_token}}` replaced by a fresh masked token for the cookie's secret (a
// new secret, and cookie, when there is none), as Django's {% csrf_token %}.
canal::HttpResponseStart with_csrf_token(canal::Scope const& scope, std::string& page, int status,
                                         std::string secret = {}) {
    if (secret.empty()) {
        secret = csrf_secret_of(scope);
    }
    if (secret.empty()) {
        secret = canal::csrf_new_secret();
    }
    replace_all(page, "{{csrf_token}}", canal::csrf_mask(secret));
    auto start = response_start(status, "text/html; charset=utf-8");
    set_csrf_cookie(start, scope, secret);
    return start;
}

// The form, with a fresh masked token for `secret`; sets the csrftoken cookie.
canal::awaitable<void> render_login(std::shared_ptr<Views const> views, canal::Scope const& scope,
                                    canal::Send send, int status, std::string secret,
                                    std::string error, std::string username) {
    auto page = read_text(views->static_dir / "login.html");
    replace_all(page, "{{username}}", html_escape(username));
    replace_all(page, "{{error}}", html_escape(error));
    replace_all(page, "{{error_hidden}}", error.empty() ? "hidden" : "");
    auto start = with_csrf_token(scope, page, status, std::move(secret));
    co_await respond(std::move(send), std::move(start), std::move(page));
}

canal::awaitable<std::string> request_body(canal::Receive receive) {
    for (;;) {
        auto event = co_await receive();
        if (auto* request = std::get_if<canal::HttpRequest>(&event)) {
            co_return std::move(request->body);
        }
        if (std::holds_alternative<canal::HttpDisconnect>(event)) {
            throw canal::StopConsumer();
        }
    }
}

// The form of a POST whose csrfmiddlewaretoken matches the csrftoken cookie. Otherwise answers
// (405 naming `allow` for another method, 403 for a missing or wrong token) and returns
// nothing. `allow` by value, built by the caller in its own statement (g++ 12 and co_await
// operands: a string literal there crashed).
canal::awaitable<std::optional<std::map<std::string, std::string, std::less<>>>>
checked_post(canal::Scope const& scope, canal::Receive receive, canal::Send send,
             std::string allow) {
    if (scope.method != "POST") {
        auto start = response_start(405, "text/plain; charset=utf-8");
        start.headers.emplace_back("allow", std::move(allow));
        co_await respond(std::move(send), std::move(start), std::string("method not allowed\n"));
        co_return std::nullopt;
    }
    auto form = parse_form(co_await request_body(std::move(receive)));
    auto const secret = csrf_secret_of(scope);
    auto const token = form.find(canal::csrf_field_name);
    if (secret.empty() || token == form.end() || !canal::csrf_check(secret, token->second)) {
        auto start = response_start(403, "text/plain; charset=utf-8");
        co_await respond(std::move(send), std::move(start),
                         std::string("CSRF verification failed: the form's csrfmiddlewaretoken "
                                     "does not match the csrftoken cookie. Reload the page and "
                                     "try again.\n"));
        co_return std::nullopt;
    }
    co_return form;
}

canal::awaitable<void> login_view(std::shared_ptr<Views const> views, canal::Scope scope,
                                  canal::Receive receive, canal::Send send) {
    std::string secret = csrf_secret_of(scope);
    if (scope.method == "GET" || scope.method == "HEAD") {
        if (secret.empty()) {
            secret = canal::csrf_new_secret();
        }
        co_await render_login(views, scope, std::move(send), 200, std::move(secret), std::string(),
                              std::string());
        co_return;
    }
    std::string allow = "GET, HEAD, POST";
    auto checked = co_await checked_post(scope, std::move(receive), send, std::move(allow));
    if (!checked) {
        co_return;
    }
    auto& form = *checked;
    std::string const client = scope.client ? scope.client->host : std::string("unknown");
    auto const username = form["username"];
    if (auto wait = views->throttle->blocked(client)) {
        co_await render_login(views, scope, std::move(send), 429, std::move(secret),
                              "Too many failed logins from your address: try again in " +
                                  std::to_string(wait->count()) + " seconds.",
                              username);
        co_return;
    }
    auto user = co_await canal::aauthenticate(views->users, username, form["password"]);
    if (!user) {
        views->throttle->record_failure(client);
        co_await render_login(views, scope, std::move(send), 200, std::move(secret),
                              std::string("Please enter a correct username and password."),
                              username);
        co_return;
    }
    views->throttle->reset(client);
    canal::login(scope, *user);
    // A new CSRF secret after login, as Django rotates it.
    auto start = response_start(302, "text/plain; charset=utf-8");
    start.headers.emplace_back("location", "/multichat/");
    set_csrf_cookie(start, scope, canal::csrf_new_secret());
    co_await respond(std::move(send), std::move(start), std::string("logged in\n"));
}

// Django's LogoutView (4.1+): POST with a CSRF token only, so that another site cannot log a
// user out with a link or an image; GET is 405.
canal::awaitable<void> logout_view(canal::Scope scope, canal::Receive receive, canal::Send send) {
    std::string allow = "POST";
    auto checked = co_await checked_post(scope, std::move(receive), send, std::move(allow));
    if (!checked) {
        co_return;
    }
    canal::logout(scope);
    co_await redirect(std::move(send), std::string("/login/"));
}

bool logged_in(canal::Scope const& scope) { return scope.user && scope.user->is_authenticated(); }

canal::awaitable<void> page_view(std::shared_ptr<Views const> views, canal::Scope scope,
                                 canal::Receive /*receive*/, canal::Send send) {
    if (!logged_in(scope)) {
        co_await redirect(std::move(send), views->login_url);
        co_return;
    }
    auto page = read_text(views->static_dir / "multichat.html"); // its logout form's token
    replace_all(page, "{{logout_url}}", html_escape(views->logout_url));
    if (views->csrf_token) { // the other site's token; its csrftoken cookie is not touched
        replace_all(page, "{{csrf_token}}", html_escape(views->csrf_token(scope)));
        auto start = response_start(200, "text/html; charset=utf-8");
        co_await respond(std::move(send), std::move(start), std::move(page));
        co_return;
    }
    auto start = with_csrf_token(scope, page, 200);
    co_await respond(std::move(send), std::move(start), std::move(page));
}

canal::awaitable<void> rooms_view(std::shared_ptr<Views const> views, canal::Scope scope,
                                  canal::Receive /*receive*/, canal::Send send) {
    if (!logged_in(scope)) {
        co_await redirect(std::move(send), views->login_url);
        co_return;
    }
    if (views->context->store) {
        co_await refresh_rooms_async(views->context);
    }
    boost::json::array rooms;
    // The snapshot held for the loop: another connection's refresh may replace the list.
    auto const snapshot = views->context->rooms->snapshot();
    for (auto const& room : snapshot->rooms()) {
        rooms.push_back(room_json(room));
    }
    boost::json::object out;
    out["username"] = scope.user->username;
    out["is_staff"] = scope.user->is_staff;
    out["rooms"] = std::move(rooms);
    auto start = response_start(200, "application/json");
    co_await respond(std::move(send), std::move(start), boost::json::serialize(out));
}

/** The consumers' context; with a store, the rooms file seeds it and its rooms are served. */
std::shared_ptr<MultichatContext const> make_context(MultichatOptions const& options) {
    auto context = std::make_shared<MultichatContext>();
    context->rooms = std::make_shared<RoomDirectory>(*options.rooms);
    context->store = options.store;
    context->history = options.history;
    context->notify_enter_leave = options.notify_enter_leave;
    if (context->store) {
        std::vector<StoredRoom> seed;
        for (auto const& room : options.rooms->rooms()) {
            seed.push_back({boost::json::serialize(room.id), room.key, room.title,
                            room.staff_only});
        }
        context->store->seed_rooms(seed);
        context->rooms->replace(RoomList::from_store(context->store->rooms()));
    }
    return context;
}

} // namespace

std::map<std::string, std::string, std::less<>> parse_form(std::string_view body) {
    std::map<std::string, std::string, std::less<>> out;
    if (!boost::urls::parse_query(body)) {
        return out; // a stray '%' or a bad escape: no field is trusted
    }
    boost::urls::encoding_opts form;
    form.space_as_plus = true;
    for (auto const& field : boost::urls::params_view(body, form)) {
        out.emplace(field.key, field.value); // the first value of each name wins
    }
    return out;
}

canal::Application make_multichat_application(std::filesystem::path const& static_dir,
                                              MultichatOptions options,
                                              canal::Application fallback) {
    if ((!options.users && !options.auth_stack) || !options.rooms) {
        throw std::invalid_argument("the multichat needs a user store and a room list");
    }
    if (!options.sessions) {
        options.sessions = std::make_shared<canal::MemorySessionStore>();
    }
    if (!options.throttle) {
        options.throttle = std::make_shared<LoginThrottle>();
    }
    auto views = std::make_shared<Views>();
    views->static_dir = static_dir;
    views->login_url = options.login_url;
    views->logout_url = options.logout_url;
    views->csrf_token = options.csrf_token;
    views->users = options.users;
    views->context = make_context(options);
    views->throttle = options.throttle;
    std::shared_ptr<Views const> shared = views;

    auto stack = [&](canal::Application app) -> canal::Application {
        if (options.auth_stack) {
            return options.auth_stack(std::move(app));
        }
        return canal::AuthMiddlewareStack(std::move(app), options.sessions, options.users);
    };
    std::vector<canal::Route> routes{
        canal::path("multichat/", stack([shared](canal::Scope s, canal::Receive r, canal::Send x) {
                        return page_view(shared, std::move(s), std::move(r), std::move(x));
                    })),
        canal::path("multichat/rooms/",
                    stack([shared](canal::Scope s, canal::Receive r, canal::Send x) {
                        return rooms_view(shared, std::move(s), std::move(r), std::move(x));
                    })),
    };
    if (!options.auth_stack) { // otherwise the other site logs users in and out
        routes.push_back(canal::path(
            "login/", stack([shared](canal::Scope s, canal::Receive r, canal::Send x) {
                return login_view(shared, std::move(s), std::move(r), std::move(x));
            })));
        routes.push_back(canal::path("logout/", stack(&logout_view)));
    }
    auto http = std::make_shared<canal::URLRouter const>(std::move(routes));
    auto consumer =
        options.style == ConsumerStyle::sync
            ? canal::as_app<SyncMultichatConsumer>(views->context)
            : canal::as_app<MultichatConsumer>(views->context);
    auto websocket = std::make_shared<canal::URLRouter const>(std::vector<canal::Route>{
        canal::path("chat/stream/", canal::AllowedHostsOriginValidator(stack(std::move(consumer)),
                                                                       options.allowed_hosts)),
    });
    return [http, websocket,
            fallback = std::move(fallback)](canal::Scope scope, canal::Receive receive,
                                            canal::Send send) -> canal::awaitable<void> {
        if (scope.type == "http" && http->match(scope.path)) {
            return (*http)(std::move(scope), std::move(receive), std::move(send));
        }
        if (scope.type == "websocket" && websocket->match(scope.path)) {
            return (*websocket)(std::move(scope), std::move(receive), std::move(send));
        }
        return fallback(std::move(scope), std::move(receive), std::move(send));
    };
}

} // namespace chat
