// SessionMiddleware: scope.session from the session cookie, saved after HTTP responses.
#pragma once

#include <canal/middleware/base_middleware.hpp>
#include <canal/middleware/session.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace canal {

/** Settings of SessionMiddleware (Django's SESSION_* settings). */
struct SessionSettings {
    /** The cookie that carries the session key (SESSION_COOKIE_NAME). */
    std::string cookie_name = "sessionid";
    /** Server-side lifetime after each save, and the cookie's Max-Age (two weeks). */
    std::chrono::seconds max_age = std::chrono::hours(24 * 14);
    /** Cookie `Path`. */
    std::string cookie_path = "/";
    /** Cookie `Domain` (empty: none). */
    std::string cookie_domain;
    /** `Secure` always; it is also set whenever the request came over TLS. */
    bool cookie_secure = false;
    /** `HttpOnly` (default on: scripts have no business reading the session key). */
    bool cookie_http_only = true;
    /** `SameSite`. */
    std::string cookie_same_site = "Lax";
};

/**
 * Puts the session named by the session cookie in `scope.session`
 * (channels.sessions.SessionMiddleware); needs CookieMiddleware above it. An unknown,
 * expired or malformed key gives an empty session (with no key).
 *
 * For HTTP, when the application starts its response (status other than 500) and the
 * session was modified, the session is saved and the cookie is set, or deleted when the
 * session is now empty. Websocket consumers call `scope().session->save()` themselves.
 * A scope that already has a session is passed through unchanged.
 */
class SessionMiddleware : public BaseMiddleware {
public:
    /** Wraps `inner`, keeping sessions in `store`. */
    SessionMiddleware(Application inner, std::shared_ptr<SessionStore> store,
                      SessionSettings settings = {});

protected:
    awaitable<void> call(Scope scope, Receive receive, Send send) const override;

private:
    awaitable<void> load_then_call(std::unique_ptr<Scope> scope, Receive receive, Send send) const;

    std::shared_ptr<SessionStore> store_;
    std::shared_ptr<SessionSettings const> settings_;
};

} // namespace canal
