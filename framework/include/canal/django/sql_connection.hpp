// SqlConnection: one blocking database connection, SQLite or PostgreSQL, with one SQL text for
// both (parameters written $1, $2...; values and results as text). canal::django reads Django's
// database with it; an application can keep its own tables with it (canal-chat's store does).
#pragma once

#include <canal/django/database.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace canal::django {

/** A statement's rows; a NULL column is nothing. */
using SqlRows = std::vector<std::vector<std::optional<std::string>>>;

/**
 * One open connection, used by one thread at a time (hold several in a canal::ResourcePool).
 * Every call blocks; every failure throws DatabaseError saying what and why.
 */
class SqlConnection {
public:
    virtual ~SqlConnection() = default;

    /**
     * Opens the SQLite file at `path`. Read-only: waits up to 2 s on a writer's lock.
     * Writable: created if need be, in WAL mode with `synchronous=NORMAL` (a commit survives
     * the process crashing; the last ones may be lost if the machine loses power), waiting up
     * to 5 s on another writer's lock.
     */
    static std::unique_ptr<SqlConnection> open_sqlite(std::string const& path, bool writable);

    /** Connects to PostgreSQL with a libpq URI (a 5 s connect_timeout unless it sets one). */
    static std::unique_ptr<SqlConnection> open_postgres(std::string const& uri);

    /** Runs one statement with text parameters bound to $1, $2...; returns its rows. */
    virtual SqlRows query(std::string const& sql, std::vector<std::string> const& params = {}) = 0;

    /** Runs `sql`: one or more statements, no parameters, no rows returned. */
    virtual void script(std::string const& sql) = 0;

    /** "sqlite" or "postgresql": the dialect, where the SQL of the two differs. */
    [[nodiscard]] virtual char const* dialect() const noexcept = 0;
};

} // namespace canal::django
