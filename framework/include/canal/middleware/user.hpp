// User and UserStore: who is logged in, and where users and their password hashes are kept.
#pragma once

#include <canal/core/net.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace canal {

/** A user as the application sees it (`scope.user`); an empty username is the anonymous user. */
struct User {
    /** The username; empty for the anonymous user. */
    std::string username;
    /** May enter staff-only places. */
    bool is_staff = false;

    /** True for a logged-in user (Django's is_authenticated). */
    [[nodiscard]] bool is_authenticated() const noexcept { return !username.empty(); }
    /** True for the anonymous user (Django's is_anonymous). */
    [[nodiscard]] bool is_anonymous() const noexcept { return username.empty(); }
};

/**
 * Where users live (Django's auth backend + user model): look-up by name, and password
 * checks. Implementation: JsonFileUserStore.
 *
 * @par Thread safety
 * Implementations are called from any thread concurrently.
 */
class UserStore {
public:
    virtual ~UserStore() = default;

    /** The user called `username`, or nothing. Fast: may run on an I/O thread. */
    [[nodiscard]] virtual std::optional<User> get(std::string_view username) const = 0;

    /**
     * The user when `password` is theirs, else nothing. Slow on purpose (PBKDF2): call it
     * through sync_to_async() from coroutines. Takes as long for an unknown user.
     */
    [[nodiscard]] virtual std::optional<User> authenticate(std::string_view username,
                                                           std::string_view password) const = 0;
};

/**
 * Runs `users->authenticate(username, password)` on the handler pool and resumes on the
 * caller's executor (Django's aauthenticate()): the PBKDF2 work never blocks an I/O thread.
 * Nothing of the caller's executor is held by the pool thread once the result is handed
 * back, so the caller's io_context may be destroyed as soon as the caller has resumed.
 */
awaitable<std::optional<User>> aauthenticate(std::shared_ptr<UserStore const> users,
                                             std::string username, std::string password);

} // namespace canal
