// SqlConnection: the chat store's one blocking database connection, SQLite or PostgreSQL, with
// one SQL text for both (parameters written $1, $2...; values and results as text).
#pragma once

#include <canal/core/errors.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace chat {

/** The chat's database cannot be reached, or a statement failed (the message says why). */
class StoreError : public canal::Error {
public:
    using Error::Error;
};

/** A statement's rows; a NULL column is nothing. */
using SqlRows = std::vector<std::vector<std::optional<std::string>>>;

/** One open connection, used by one thread at a time. Every failure throws StoreError. */
class SqlConnection {
public:
    virtual ~SqlConnection() = default;

    /** Runs one statement with text parameters bound to $1, $2...; returns its rows. */
    virtual SqlRows query(std::string const& sql, std::vector<std::string> const& params = {}) = 0;

    /** Runs `sql` (one or more statements, no parameters) in one transaction. */
    virtual void script(std::string const& sql) = 0;

    /** "sqlite" or "postgresql": which dialect the schema is written in. */
    [[nodiscard]] virtual char const* dialect() const noexcept = 0;
};

/**
 * Opens (creating it if need be) the SQLite file at `path` for reading and writing, in WAL
 * mode, waiting up to 5 s on another writer's lock.
 */
std::unique_ptr<SqlConnection> open_sqlite_store(std::string const& path);

/** Connects to PostgreSQL with a libpq URI (a 5 s connect_timeout unless it sets one). */
std::unique_ptr<SqlConnection> open_postgres_store(std::string const& uri);

} // namespace chat
