// SqlConnection on SQLite.
#include <canal/django/sql_connection.hpp>

#include <sqlite3.h>

namespace canal::django {

namespace {

struct CloseDb {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct Finalize {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};

class SqliteConnection final : public SqlConnection {
public:
    SqliteConnection(std::string const& path, bool writable) : path_(path) {
        sqlite3* db = nullptr;
        // NOMUTEX: one thread at a time uses a connection.
        int const flags = (writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                    : SQLITE_OPEN_READONLY) |
                          SQLITE_OPEN_NOMUTEX;
        int const rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
        db_.reset(db);
        if (rc != SQLITE_OK) {
            fail("cannot open");
        }
        // Another process (Django, another canal-chat) may hold the write lock for a moment.
        sqlite3_busy_timeout(db_.get(), writable ? 5000 : 2000);
        if (writable) {
            // WAL lets readers go on during a write; synchronous=NORMAL spares an fsync per
            // commit (a commit survives a crash of the process, not a power loss).
            script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
        }
    }

    SqlRows query(std::string const& sql, std::vector<std::string> const& params) override {
        sqlite3_stmt* raw = nullptr;
        if (sqlite3_prepare_v2(db_.get(), sql.c_str(), static_cast<int>(sql.size()), &raw,
                               nullptr) != SQLITE_OK) {
            fail("cannot prepare a statement (is the database migrated?)");
        }
        std::unique_ptr<sqlite3_stmt, Finalize> statement(raw);
        for (std::size_t i = 0; i < params.size(); ++i) {
            auto const name = "$" + std::to_string(i + 1);
            int const index = sqlite3_bind_parameter_index(raw, name.c_str());
            if (index == 0) {
                continue; // a parameter the statement does not use
            }
            if (sqlite3_bind_text(raw, index, params[i].data(),
                                  static_cast<int>(params[i].size()),
                                  SQLITE_TRANSIENT) != SQLITE_OK) {
                fail("cannot bind a parameter");
            }
        }
        SqlRows rows;
        for (;;) {
            int const rc = sqlite3_step(raw);
            if (rc == SQLITE_DONE) {
                return rows;
            }
            if (rc != SQLITE_ROW) {
                fail("a statement failed");
            }
            auto& row = rows.emplace_back();
            int const columns = sqlite3_column_count(raw);
            for (int c = 0; c < columns; ++c) {
                auto const* p = reinterpret_cast<char const*>(sqlite3_column_text(raw, c));
                if (p == nullptr) {
                    row.emplace_back();
                } else {
                    row.emplace_back(std::string(
                        p, static_cast<std::size_t>(sqlite3_column_bytes(raw, c))));
                }
            }
        }
    }

    void script(std::string const& sql) override {
        char* error = nullptr;
        if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
            std::string const why = error != nullptr ? error : "unknown error";
            sqlite3_free(error);
            throw DatabaseError("SQLite database " + path_ + ": " + why);
        }
    }

    [[nodiscard]] char const* dialect() const noexcept override { return "sqlite"; }

private:
    [[noreturn]] void fail(std::string const& what) const {
        std::string message = "SQLite database " + path_ + ": " + what;
        if (db_) {
            message += ": ";
            message += sqlite3_errmsg(db_.get());
        }
        throw DatabaseError(message);
    }

    std::string path_;
    std::unique_ptr<sqlite3, CloseDb> db_;
};

} // namespace

std::unique_ptr<SqlConnection> SqlConnection::open_sqlite(std::string const& path,
                                                          bool writable) {
    return std::make_unique<SqliteConnection>(path, writable);
}

} // namespace canal::django
