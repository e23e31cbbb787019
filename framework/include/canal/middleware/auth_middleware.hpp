// AuthMiddleware, login() and logout(): scope.user from the session; AuthMiddlewareStack.
#pragma once

#include <canal/middleware/base_middleware.hpp>
#include <canal/middleware/session_middleware.hpp>
#include <canal/middleware/user.hpp>

#include <memory>

namespace canal {

/** The session key holding the logged-in username (Django's SESSION_KEY). */
inline constexpr char const* auth_session_key = "_auth_user_id";

/**
 * Puts the user of the session in `scope.user` (channels.auth.AuthMiddleware): the user
 * whose name login() stored, looked up in `users`, or the anonymous user. Needs
 * SessionMiddleware above it; throws canal::Error when the scope has no session.
 */
class AuthMiddleware : public BaseMiddleware {
public:
    /** Wraps `inner`, finding users in `users`. */
    AuthMiddleware(Application inner, std::shared_ptr<UserStore const> users);

protected:
    awaitable<void> populate_scope(Scope& scope) const override;

private:
    std::shared_ptr<UserStore const> users_;
};

/**
 * Logs `user` in (channels.auth.login): the session gets a new key (no session fixation;
 * a session that belonged to another user is emptied first), stores the username, and
 * `scope.user` becomes `user`. The session is saved by SessionMiddleware after an HTTP
 * response, or by `scope.session->save()` in a websocket consumer.
 * Throws canal::Error when the scope has no session.
 */
void login(Scope& scope, User const& user);

/**
 * Logs out (channels.auth.logout): the session is flushed (emptied, its key dropped) and
 * `scope.user` becomes anonymous. Throws canal::Error when the scope has no session.
 */
void logout(Scope& scope);

/**
 * CookieMiddleware(SessionMiddleware(AuthMiddleware(inner))) (channels.auth.AuthMiddlewareStack).
 */
class AuthMiddlewareStack {
public:
    /** The stack around `inner`: sessions in `sessions`, users from `users`. */
    AuthMiddlewareStack(Application inner, std::shared_ptr<SessionStore> sessions,
                        std::shared_ptr<UserStore const> users, SessionSettings settings = {});

    /** Runs the stack for one connection. */
    awaitable<void> operator()(Scope scope, Receive receive, Send send) const;

private:
    Application app_;
};

} // namespace canal
