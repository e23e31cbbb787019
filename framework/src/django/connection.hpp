// The private side of Database: one blocking connection (SQLite or libpq) and the pool.
#pragma once

#include <canal/django/database.hpp>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

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

/** A bounded pool of connections opened on demand by `open`. */
class ConnectionPool {
public:
    using Open = std::function<std::unique_ptr<Connection>()>;

    ConnectionPool(Open open, std::size_t size, std::chrono::milliseconds wait);

    /**
     * Runs `fn` with a connection: an idle one, a new one if fewer than `size` are open, or
     * the first one given back within `wait`. A connection whose call threw is closed.
     */
    template <typename Fn>
    auto with_connection(Fn fn) {
        auto connection = acquire();
        try {
            auto result = fn(*connection);
            release(std::move(connection));
            return result;
        } catch (...) {
            discard();
            throw;
        }
    }

private:
    std::unique_ptr<Connection> acquire();
    void release(std::unique_ptr<Connection> connection);
    void discard();

    Open open_;
    std::size_t size_;
    std::chrono::milliseconds wait_;
    std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<Connection>> idle_;
    std::size_t open_count_ = 0;
};

} // namespace canal::django::detail
