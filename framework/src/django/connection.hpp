// The private side of Database: one blocking connection (SQLite or libpq).
#pragma once

#include <canal/django/database.hpp>

#include <memory>

namespace canal::django::detail {

/** One open connection, used by one thread at a time. Every failure throws DatabaseError. */
class Connection {
public:
    virtual ~Connection() = default;
    virtual std::optional<std::string> session_data(std::string_view key,
                                                    std::string_view now_utc) = 0;
    virtual std::optional<UserRow> user(std::string_view id) = 0;
};

/** Opens a SQLite database file read-only. */
std::unique_ptr<Connection> open_sqlite(std::string const& path, std::string const& user_table);

/** Connects to PostgreSQL with a libpq URI. */
std::unique_ptr<Connection> open_postgres(std::string const& uri, std::string const& user_table);

/** `now` as Django stores a UTC datetime: `YYYY-MM-DD HH:MM:SS.ffffff`. */
std::string utc_text(std::chrono::system_clock::time_point now);

} // namespace canal::django::detail
