// DjangoSessionMiddleware, DjangoAuthMiddleware and DjangoAuthMiddlewareStack: scope.session
// and scope.user from a Django site's session cookie, users and secret key.
#pragma once

#include <canal/django/django_settings.hpp>
#include <canal/middleware/base_middleware.hpp>
#include <canal/middleware/session_store.hpp>

#include <memory>

namespace canal::django {

/**
 * Puts the Django session named by the session cookie in `scope.session` (read-only; see
 * DjangoSessionStore). Needs CookieMiddleware above it. A missing, unknown, expired or
 * tampered cookie gives an empty session; so does a store that cannot be reached (logged as
 * a warning). A scope that already has a session is passed through unchanged.
 */
class DjangoSessionMiddleware : public BaseMiddleware {
public:
    /** Wraps `inner` for the site `settings` describes (throws std::invalid_argument if incomplete). */
    DjangoSessionMiddleware(Application inner, std::shared_ptr<DjangoSettings const> settings);

protected:
    awaitable<void> populate_scope(Scope& scope) const override;

private:
    std::shared_ptr<DjangoSettings const> settings_;
    std::shared_ptr<SessionStore> store_;
};

/**
 * Puts the Django user of the session in `scope.user`, as django.contrib.auth.get_user()
 * does: the session's `_auth_user_id` is loaded from the user table (on the handler pool)
 * when its `_auth_user_backend` is in `authentication_backends`, the user is active (unless
 * the backend is AllowAllUsersModelBackend) and its `_auth_user_hash` matches the user's
 * password hash (so a password change or a logout on the Django side ends it here too).
 * Anything else, or a database that cannot be reached (a warning), gives the anonymous user.
 *
 * The user's row is also in `scope.extensions["django_user"]`: `{"id", "username",
 * "is_active", "is_staff", "is_superuser"}` (absent for the anonymous user). Needs
 * DjangoSessionMiddleware above it; throws canal::Error when the scope has no session.
 */
class DjangoAuthMiddleware : public BaseMiddleware {
public:
    /** Wraps `inner` for the site `settings` describes (throws std::invalid_argument if incomplete). */
    DjangoAuthMiddleware(Application inner, std::shared_ptr<DjangoSettings const> settings);

protected:
    awaitable<void> populate_scope(Scope& scope) const override;

private:
    std::shared_ptr<DjangoSettings const> settings_;
};

/**
 * CookieMiddleware(DjangoSessionMiddleware(DjangoAuthMiddleware(inner))): AuthMiddlewareStack
 * for the users of a Django site.
 */
class DjangoAuthMiddlewareStack {
public:
    /** The stack around `inner` for the site `settings` describes. */
    DjangoAuthMiddlewareStack(Application inner, std::shared_ptr<DjangoSettings const> settings);

    /** Runs the stack for one connection. */
    awaitable<void> operator()(Scope scope, Receive receive, Send send) const;

private:
    Application app_;
};

} // namespace canal::django
