// DjangoSessionMiddleware, DjangoAuthMiddleware and DjangoAuthMiddlewareStack.
#include <canal/django/django_auth_middleware.hpp>

#include <canal/core/errors.hpp>
#include <canal/django/django_session_store.hpp>
#include <canal/django/session_codec.hpp>
#include <canal/middleware/cookie_middleware.hpp>
#include <canal/middleware/session.hpp>
#include <canal/middleware/user.hpp>
#include <canal/sync/sync_to_async.hpp>

#include "detail/log.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace canal::django {

namespace {

std::shared_ptr<DjangoSettings const> checked(std::shared_ptr<DjangoSettings const> settings) {
    if (!settings) {
        throw std::invalid_argument("the Django middleware's settings are null");
    }
    validate(*settings);
    return settings;
}

std::shared_ptr<User const> anonymous() {
    static auto const user = std::make_shared<User const>();
    return user;
}

// What a primary key of Django's user table looks like as text (an integer, or a UUID):
// anything else is not worth a query.
bool plausible_id(std::string_view id) {
    return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '-';
    });
}

// One user look-up, blocking: run on the handler pool.
struct LoadUser {
    std::shared_ptr<Database> database;
    std::string id;
    std::optional<UserRow> operator()() const { return database->user(id); }
};

} // namespace

DjangoSessionMiddleware::DjangoSessionMiddleware(Application inner,
                                                 std::shared_ptr<DjangoSettings const> settings)
    : BaseMiddleware(std::move(inner)), settings_(checked(std::move(settings))),
      store_(std::make_shared<DjangoSessionStore>(settings_)) {}

awaitable<void> DjangoSessionMiddleware::populate_scope(Scope& scope) const {
    if (scope.session) {
        co_return; // a session middleware further out already did the work
    }
    std::string key;
    boost::json::object data;
    auto const cookie = scope.cookies.find(settings_->cookie_name);
    if (cookie != scope.cookies.end()) {
        std::string wanted = cookie->second;
        std::optional<boost::json::object> loaded;
        try {
            loaded = co_await store_->load(wanted);
        } catch (std::exception const& e) {
            // No co_await here (g++ 12): log and carry on with an empty session.
            canal::detail::log_warning(std::string("Django session not loaded, the client is "
                                            "anonymous: ") +
                                e.what());
        }
        if (loaded) {
            key = std::move(wanted);
            data = std::move(*loaded);
        }
    }
    scope.session = std::make_shared<Session>(store_, std::move(key), std::move(data),
                                              settings_->cookie_age);
}

DjangoAuthMiddleware::DjangoAuthMiddleware(Application inner,
                                           std::shared_ptr<DjangoSettings const> settings)
    : BaseMiddleware(std::move(inner)), settings_(checked(std::move(settings))) {}

awaitable<void> DjangoAuthMiddleware::populate_scope(Scope& scope) const {
    if (!scope.session) {
        throw Error("DjangoAuthMiddleware cannot find a session in the scope: wrap the "
                    "application in DjangoSessionMiddleware (or DjangoAuthMiddlewareStack)");
    }
    scope.user = anonymous();
    scope.extensions.erase("django_user");
    auto const& session = *scope.session;
    auto const* id = session.get(auth_user_id_key);
    auto const* backend = session.get(auth_user_backend_key);
    auto const* hash = session.get(auth_user_hash_key);
    if (id == nullptr || !id->is_string() || backend == nullptr || !backend->is_string()) {
        co_return;
    }
    auto const& backends = settings_->authentication_backends;
    std::string const backend_name(backend->get_string());
    if (std::find(backends.begin(), backends.end(), backend_name) == backends.end() ||
        !plausible_id(id->get_string())) {
        co_return;
    }
    LoadUser load{settings_->database, std::string(id->get_string())};
    std::optional<UserRow> row;
    try {
        row = co_await sync_to_async(std::move(load));
    } catch (std::exception const& e) {
        canal::detail::log_warning(std::string("Django user not loaded, the client is anonymous: ") +
                            e.what());
    }
    if (!row) {
        co_return;
    }
    bool const allow_inactive =
        backend_name == "django.contrib.auth.backends.AllowAllUsersModelBackend";
    if (!row->is_active && !allow_inactive) {
        co_return;
    }
    std::string_view const session_hash =
        hash != nullptr && hash->is_string() ? std::string_view(hash->get_string())
                                             : std::string_view();
    if (!session_auth_hash_matches(session_hash, row->password, settings_->secret_key)) {
        co_return; // a password change, or a session from before it
    }
    User user;
    user.username = row->username;
    user.is_staff = row->is_staff;
    scope.user = std::make_shared<User const>(std::move(user));
    boost::json::object info;
    info["id"] = row->id;
    info["username"] = row->username;
    info["is_active"] = row->is_active;
    info["is_staff"] = row->is_staff;
    info["is_superuser"] = row->is_superuser;
    scope.extensions["django_user"] = std::move(info);
}

DjangoAuthMiddlewareStack::DjangoAuthMiddlewareStack(Application inner,
                                                     std::shared_ptr<DjangoSettings const> settings)
    : app_(CookieMiddleware(DjangoSessionMiddleware(
          DjangoAuthMiddleware(std::move(inner), settings), settings))) {}

awaitable<void> DjangoAuthMiddlewareStack::operator()(Scope scope, Receive receive,
                                                      Send send) const {
    return app_(std::move(scope), std::move(receive), std::move(send));
}

} // namespace canal::django
