// DjangoSessionStore: a Django site's sessions as a canal SessionStore (read-only).
#pragma once

#include <canal/django/django_settings.hpp>
#include <canal/middleware/session_store.hpp>

#include <memory>

namespace canal::django {

/**
 * The sessions of a Django site, by the value of its session cookie: for the `db` engine a
 * row of `django_session` (looked up on the handler pool), for `cache` the django-redis
 * entry, for `signed_cookies` the cookie itself. The data is checked as Django checks it
 * (signature, expiry). Only what Django itself would load is returned: a tampered, expired
 * or malformed session loads as nothing.
 *
 * Read-only: Django owns its sessions, so save() and remove() throw canal::Error (change
 * the session on the Django side). load() throws DatabaseError (or the Redis client's
 * canal::Error) when the store cannot be reached.
 *
 * @par Thread safety
 * Safe from any I/O thread concurrently.
 */
class DjangoSessionStore : public SessionStore {
public:
    /** The sessions of the site `settings` describes; throws std::invalid_argument when incomplete. */
    explicit DjangoSessionStore(std::shared_ptr<DjangoSettings const> settings);

    awaitable<std::optional<boost::json::object>> load(std::string key) override;
    awaitable<void> save(std::string key, boost::json::object data,
                         std::chrono::seconds ttl) override;
    awaitable<void> remove(std::string key) override;

    /** True for what Django's db and cache engines use as keys: 8 to 40 of `a-z0-9`. */
    static bool is_valid_key(std::string_view key) noexcept;

private:
    std::shared_ptr<DjangoSettings const> settings_;
};

/** Checks that `settings` is complete for its engine; throws std::invalid_argument saying what is missing. */
void validate(DjangoSettings const& settings);

} // namespace canal::django
