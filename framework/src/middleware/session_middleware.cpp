// SessionMiddleware: load the session named by the cookie; save it when an HTTP response starts.
#include <canal/middleware/session_middleware.hpp>

#include <canal/middleware/cookie_middleware.hpp>

#include "core/run_routed.hpp"

#include <memory>
#include <stdexcept>
#include <utility>

namespace canal {

namespace {

// What the wrapped send of one HTTP request needs.
struct SessionSend {
    std::shared_ptr<Session> session;
    Send send;
    std::shared_ptr<SessionSettings const> settings;
    bool had_cookie = false;
    bool secure = false;
};

awaitable<void> send_with_session(std::shared_ptr<SessionSend> state, Event event) {
    auto* start = std::get_if<HttpResponseStart>(&event);
    if (start != nullptr && start->status != 500 && state->session->modified()) {
        auto const& s = *state->settings;
        co_await state->session->save();
        if (state->session->key().empty()) {
            if (state->had_cookie) {
                delete_cookie(*start, s.cookie_name, s.cookie_path, s.cookie_domain);
            }
        } else {
            CookieOptions options;
            options.max_age = s.max_age;
            options.path = s.cookie_path;
            options.domain = s.cookie_domain;
            options.secure = s.cookie_secure || state->secure;
            options.http_only = s.cookie_http_only;
            options.same_site = s.cookie_same_site;
            set_cookie(*start, s.cookie_name, state->session->key(), options);
        }
    }
    co_await state->send(std::move(event));
}

} // namespace

SessionMiddleware::SessionMiddleware(Application inner, std::shared_ptr<SessionStore> store,
                                     SessionSettings settings)
    : BaseMiddleware(std::move(inner)), store_(std::move(store)),
      settings_(std::make_shared<SessionSettings const>(std::move(settings))) {
    if (!store_) {
        throw std::invalid_argument("SessionMiddleware: the session store is null");
    }
}

// The session is loaded (a store round trip), then the inner application called through
// call_app: the frame that lasts as long as the connection holds a pointer, not a Scope.
awaitable<void> SessionMiddleware::load_then_call(std::unique_ptr<Scope> scope, Receive receive,
                                                  Send send) const {
    auto const cookie = scope->cookies.find(settings_->cookie_name);
    bool const had_cookie = cookie != scope->cookies.end();
    std::string key;
    boost::json::object data;
    if (had_cookie && Session::is_valid_key(cookie->second)) {
        std::string wanted = cookie->second;
        auto loaded = co_await store_->load(wanted);
        if (loaded) {
            key = std::move(wanted);
            data = std::move(*loaded);
        }
    }
    auto session =
        std::make_shared<Session>(store_, std::move(key), std::move(data), settings_->max_age);
    scope->session = session;
    if (scope->type != "http") {
        co_await detail::call_app(inner(), std::move(scope), std::move(receive), std::move(send));
        co_return;
    }
    auto state = std::make_shared<SessionSend>();
    state->session = std::move(session);
    state->send = std::move(send);
    state->settings = settings_;
    state->had_cookie = had_cookie;
    state->secure = is_secure(*scope);
    Send wrapped = [state](Event event) { return send_with_session(state, std::move(event)); };
    co_await detail::call_app(inner(), std::move(scope), std::move(receive), std::move(wrapped));
}

// Not a coroutine (see load_then_call).
awaitable<void> SessionMiddleware::call(Scope scope, Receive receive, Send send) const {
    if (scope.session) {
        // A session middleware further out already did the work.
        try {
            return inner()(std::move(scope), std::move(receive), std::move(send));
        } catch (...) {
            return detail::fail_routing(std::current_exception());
        }
    }
    return load_then_call(std::make_unique<Scope>(std::move(scope)), std::move(receive),
                          std::move(send));
}

} // namespace canal
