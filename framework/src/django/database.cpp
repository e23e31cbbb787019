// Database: URL parsing, a pool of connections, and the dispatch to SQLite or PostgreSQL.
#include <canal/django/database.hpp>

#include <canal/django/sql_connection.hpp>
#include <canal/sync/resource_pool.hpp>

#include <ctime>
#include <stdexcept>

namespace canal::django {

namespace {

/** `now` as Django stores a UTC datetime: `YYYY-MM-DD HH:MM:SS.ffffff`. */
std::string utc_text(std::chrono::system_clock::time_point now) {
    using namespace std::chrono;
    auto const seconds = time_point_cast<std::chrono::seconds>(now);
    auto const micros = duration_cast<microseconds>(now - seconds).count();
    std::time_t const t = system_clock::to_time_t(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02d %02d:%02d:%02d.%06lld", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long long>(micros));
    return buffer;
}


/** Django's tables as canal reads them, in either dialect. */
class PooledDatabase final : public Database {
public:
    using Pool = ResourcePool<SqlConnection>;

    PooledDatabase(Pool::Open open, DatabaseOptions const& options)
        : pool_(std::move(open), options.pool_size, options.pool_wait),
          user_table_(options.user_table) {}

    std::optional<std::string> session_data(std::string_view key,
                                            std::chrono::system_clock::time_point now) override {
        auto rows = with([&](SqlConnection& db) {
            // Django's sqlite3 backend stores the UTC text; PostgreSQL's column is timestamptz.
            bool const pg = std::string_view(db.dialect()) == "postgresql";
            return db.query(pg ? "SELECT session_data FROM django_session "
                                 "WHERE session_key = $1 AND expire_date > $2::timestamptz"
                               : "SELECT session_data FROM django_session "
                                 "WHERE session_key = $1 AND expire_date > $2",
                            {std::string(key), utc_text(now) + (pg ? "+00" : "")});
        });
        if (rows.empty() || !rows.front().at(0)) {
            return std::nullopt;
        }
        return std::move(*rows.front()[0]);
    }

    std::optional<UserRow> user(std::string_view id) override {
        auto rows = with([&](SqlConnection& db) {
            bool const pg = std::string_view(db.dialect()) == "postgresql";
            return db.query(std::string("SELECT ") + (pg ? "id::text" : "id") +
                                ", username, password, is_active, is_staff, is_superuser FROM " +
                                user_table_ + " WHERE id = $1",
                            {std::string(id)});
        });
        if (rows.empty()) {
            return std::nullopt;
        }
        auto const& row = rows.front();
        auto const text = [&](std::size_t i) { return row.at(i).value_or(std::string()); };
        // SQLite gives booleans as 1/0, PostgreSQL as t/f.
        auto const flag = [&](std::size_t i) { return text(i) == "1" || text(i) == "t"; };
        return UserRow{text(0), text(1), text(2), flag(3), flag(4), flag(5)};
    }

private:
    template <typename Fn>
    auto with(Fn fn) -> decltype(fn(std::declval<SqlConnection&>())) {
        try {
            return pool_.with(fn);
        } catch (PoolExhausted const& e) {
            throw DatabaseError(std::string("the Django database: ") + e.what());
        }
    }

    Pool pool_;
    std::string user_table_;
};

bool is_identifier(std::string_view s) {
    if (s.empty() || s.size() > 63 || (s.front() >= '0' && s.front() <= '9')) {
        return false;
    }
    for (char c : s) {
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return false;
        }
    }
    return true;
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

} // namespace

std::shared_ptr<Database> Database::open(std::string_view url, DatabaseOptions options) {
    if (options.pool_size == 0) {
        throw std::invalid_argument("the Django database pool needs at least one connection");
    }
    if (!is_identifier(options.user_table)) {
        throw std::invalid_argument("the user table '" + options.user_table +
                                    "' is not a plain SQL name (letters, digits and '_')");
    }
    if (starts_with(url, "sqlite:")) {
        // sqlite:///abs/path (three slashes: empty host) or sqlite:relative/path.
        std::string path(url.substr(7));
        if (starts_with(path, "//")) {
            path.erase(0, 2);
        }
        if (path.empty()) {
            throw std::invalid_argument("the SQLite URL '" + std::string(url) +
                                        "' names no file: use sqlite:///path/to/db.sqlite3");
        }
        auto open = [path] { return SqlConnection::open_sqlite(path, false); };
        return std::make_shared<PooledDatabase>(std::move(open), options);
    }
    if (starts_with(url, "postgresql://") || starts_with(url, "postgres://")) {
        std::string uri(url);
        auto open = [uri] { return SqlConnection::open_postgres(uri); };
        return std::make_shared<PooledDatabase>(std::move(open), options);
    }
    throw std::invalid_argument("the Django database URL must start with sqlite:// or "
                                "postgresql://, not '" +
                                std::string(url.substr(0, 20)) + "'");
}

} // namespace canal::django
