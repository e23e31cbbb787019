// AuthMiddleware, login, logout and AuthMiddlewareStack.
#include <canal/middleware/auth_middleware.hpp>

#include <canal/core/errors.hpp>
#include <canal/middleware/cookie_middleware.hpp>

#include <stdexcept>
#include <utility>

namespace canal {

namespace {

Session& session_of(Scope const& scope, char const* who) {
    if (!scope.session) {
        throw Error(std::string(who) + " cannot find a session in the scope: wrap the "
                                       "application in SessionMiddleware (or AuthMiddlewareStack)");
    }
    return *scope.session;
}

std::shared_ptr<User const> anonymous() {
    static auto const user = std::make_shared<User const>();
    return user;
}

} // namespace

AuthMiddleware::AuthMiddleware(Application inner, std::shared_ptr<UserStore const> users)
    : BaseMiddleware(std::move(inner)), users_(std::move(users)) {
    if (!users_) {
        throw std::invalid_argument("AuthMiddleware: the user store is null");
    }
}

awaitable<void> AuthMiddleware::populate_scope(Scope& scope) const {
    auto& session = session_of(scope, "AuthMiddleware");
    scope.user = anonymous();
    if (auto const* name = session.get(auth_session_key); name != nullptr && name->is_string()) {
        if (auto user = users_->get(name->as_string())) {
            scope.user = std::make_shared<User const>(std::move(*user));
        }
    }
    co_return;
}

void login(Scope& scope, User const& user) {
    auto& session = session_of(scope, "login()");
    if (!user.is_authenticated()) {
        throw std::invalid_argument("login(): the user is anonymous");
    }
    auto const* current = session.get(auth_session_key);
    if (current != nullptr && !(current->is_string() && current->as_string() == user.username)) {
        // Another user's session: start from an empty one rather than inherit its data.
        session.flush();
    } else {
        session.cycle_key();
    }
    session.set(auth_session_key, boost::json::value(user.username));
    scope.user = std::make_shared<User const>(user);
}

void logout(Scope& scope) {
    session_of(scope, "logout()").flush();
    scope.user = anonymous();
}

AuthMiddlewareStack::AuthMiddlewareStack(Application inner, std::shared_ptr<SessionStore> sessions,
                                         std::shared_ptr<UserStore const> users,
                                         SessionSettings settings)
    : app_(CookieMiddleware(SessionMiddleware(AuthMiddleware(std::move(inner), std::move(users)),
                                              std::move(sessions), std::move(settings)))) {}

awaitable<void> AuthMiddlewareStack::operator()(Scope scope, Receive receive, Send send) const {
    return app_(std::move(scope), std::move(receive), std::move(send));
}

} // namespace canal
