// Database: the Django site's database as canal reads it (sessions and users), on SQLite or
// PostgreSQL, through a small pool of blocking connections.
#pragma once

#include <canal/core/errors.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace canal::django {

/** The database cannot be reached or a query failed (the message says which and why). */
class DatabaseError : public Error {
public:
    using Error::Error;
};

/** A row of Django's user table (`auth_user`), the columns canal reads. */
struct UserRow {
    /** The primary key, as text (what the session's `_auth_user_id` holds). */
    std::string id;
    /** `username`. */
    std::string username;
    /** `password`: the password hash, which the session auth hash is made from. */
    std::string password;
    /** `is_active`. */
    bool is_active = false;
    /** `is_staff`. */
    bool is_staff = false;
    /** `is_superuser`. */
    bool is_superuser = false;
};

/** How Database reaches the database. */
struct DatabaseOptions {
    /** Connections open at most at once (each held by one query at a time). */
    std::size_t pool_size = 4;
    /** How long a query waits for a free connection before failing with DatabaseError. */
    std::chrono::milliseconds pool_wait = std::chrono::seconds(5);
    /** The user model's table (AUTH_USER_MODEL's db_table): letters, digits and `_`. */
    std::string user_table = "auth_user";
};

/**
 * The Django site's database, read-only: `django_session` rows (the `db` engine) and users.
 * Every call blocks: from a coroutine, run it with sync_to_async() (the Django middleware
 * does). Connections are opened on first use, kept for reuse, and dropped after an error
 * (the next call opens a new one).
 *
 * URLs: `sqlite:///absolute/path/db.sqlite3` (or `sqlite:relative/path`; opened read-only,
 * waiting up to 2 s on Django's write locks) and libpq's `postgresql://[user[:password]@]
 * host[:port]/dbname[?param=value...]` (a 5 s connect_timeout unless the URL sets one).
 * Django's `USE_TZ = True` is assumed (expiry dates stored in UTC, Django's default).
 *
 * @par Thread safety
 * Safe from any thread; at most `pool_size` queries run at once, the others wait.
 */
class Database {
public:
    /**
     * The database at `url`. Nothing is opened yet; throws std::invalid_argument for a URL
     * of another kind, or a bad option.
     */
    static std::shared_ptr<Database> open(std::string_view url, DatabaseOptions options = {});

    virtual ~Database() = default;

    /**
     * The `session_data` of session `key` in `django_session` when its `expire_date` is after
     * `now`, or nothing. Throws DatabaseError.
     */
    virtual std::optional<std::string> session_data(std::string_view key,
                                                    std::chrono::system_clock::time_point now) = 0;

    /** The user whose primary key is `id` (as text), or nothing. Throws DatabaseError. */
    virtual std::optional<UserRow> user(std::string_view id) = 0;
};

} // namespace canal::django
