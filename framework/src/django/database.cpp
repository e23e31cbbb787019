// Database: URL parsing, a pool of connections, and the dispatch to SQLite or PostgreSQL.
#include <canal/django/database.hpp>

#include "django/connection.hpp"

#include <canal/sync/resource_pool.hpp>

#include <ctime>
#include <stdexcept>

namespace canal::django {

namespace detail {

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

} // namespace detail

namespace {

class PooledDatabase final : public Database {
public:
    using Pool = ResourcePool<detail::Connection>;

    PooledDatabase(Pool::Open open, DatabaseOptions const& options)
        : pool_(std::move(open), options.pool_size, options.pool_wait) {}

    template <typename Fn>
    auto with(Fn fn) -> decltype(fn(std::declval<detail::Connection&>())) {
        try {
            return pool_.with(fn);
        } catch (PoolExhausted const& e) {
            throw DatabaseError(std::string("the Django database: ") + e.what());
        }
    }

    std::optional<std::string> session_data(std::string_view key,
                                            std::chrono::system_clock::time_point now) override {
        auto const now_utc = detail::utc_text(now);
        return with([&](detail::Connection& c) { return c.session_data(key, now_utc); });
    }

    std::optional<UserRow> user(std::string_view id) override {
        return with([&](detail::Connection& c) { return c.user(id); });
    }

private:
    Pool pool_;
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
    auto const table = options.user_table;
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
        auto open = [path, table] { return detail::open_sqlite(path, table); };
        return std::make_shared<PooledDatabase>(std::move(open), options);
    }
    if (starts_with(url, "postgresql://") || starts_with(url, "postgres://")) {
        std::string uri(url);
        auto open = [uri, table] { return detail::open_postgres(uri, table); };
        return std::make_shared<PooledDatabase>(std::move(open), options);
    }
    throw std::invalid_argument("the Django database URL must start with sqlite:// or "
                                "postgresql://, not '" +
                                std::string(url.substr(0, 20)) + "'");
}

} // namespace canal::django
