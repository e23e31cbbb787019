// A read-only SQLite connection to a Django database (Django's sqlite3 backend's layout).
#include "django/connection.hpp"

#include <sqlite3.h>

namespace canal::django::detail {

namespace {

struct CloseDb {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct Finalize {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using Statement = std::unique_ptr<sqlite3_stmt, Finalize>;

class SqliteConnection final : public Connection {
public:
    SqliteConnection(std::string const& path, std::string const& user_table) : path_(path) {
        sqlite3* db = nullptr;
        // NOMUTEX: the pool hands a connection to one thread at a time.
        int const rc = sqlite3_open_v2(path.c_str(), &db,
                                       SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
        db_.reset(db);
        if (rc != SQLITE_OK) {
            fail("cannot open");
        }
        sqlite3_busy_timeout(db_.get(), 2000); // Django may hold a write lock for a moment
        session_ = prepare("SELECT session_data FROM django_session "
                           "WHERE session_key = ?1 AND expire_date > ?2");
        user_ = prepare("SELECT id, username, password, is_active, is_staff, is_superuser FROM " +
                        user_table + " WHERE id = ?1");
    }

    std::optional<std::string> session_data(std::string_view key,
                                            std::string_view now_utc) override {
        Reset reset{session_.get()};
        bind(session_.get(), 1, key);
        bind(session_.get(), 2, now_utc);
        if (!step(session_.get())) {
            return std::nullopt;
        }
        return text(session_.get(), 0);
    }

    std::optional<UserRow> user(std::string_view id) override {
        Reset reset{user_.get()};
        bind(user_.get(), 1, id);
        if (!step(user_.get())) {
            return std::nullopt;
        }
        UserRow row;
        row.id = text(user_.get(), 0);
        row.username = text(user_.get(), 1);
        row.password = text(user_.get(), 2);
        row.is_active = sqlite3_column_int(user_.get(), 3) != 0;
        row.is_staff = sqlite3_column_int(user_.get(), 4) != 0;
        row.is_superuser = sqlite3_column_int(user_.get(), 5) != 0;
        return row;
    }

private:
    struct Reset {
        sqlite3_stmt* statement;
        ~Reset() {
            sqlite3_reset(statement);
            sqlite3_clear_bindings(statement);
        }
    };

    [[noreturn]] void fail(std::string const& what) const {
        std::string message = "SQLite database " + path_ + ": " + what;
        if (db_) {
            message += ": ";
            message += sqlite3_errmsg(db_.get());
        }
        throw DatabaseError(message);
    }

    Statement prepare(std::string const& sql) {
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(db_.get(), sql.c_str(), static_cast<int>(sql.size()), &statement,
                               nullptr) != SQLITE_OK) {
            fail("cannot prepare a query (is it a migrated Django database?)");
        }
        return Statement(statement);
    }

    void bind(sqlite3_stmt* statement, int index, std::string_view value) {
        if (sqlite3_bind_text(statement, index, value.data(), static_cast<int>(value.size()),
                              SQLITE_TRANSIENT) != SQLITE_OK) {
            fail("cannot bind a query parameter");
        }
    }

    bool step(sqlite3_stmt* statement) {
        int const rc = sqlite3_step(statement);
        if (rc == SQLITE_ROW) {
            return true;
        }
        if (rc == SQLITE_DONE) {
            return false;
        }
        fail("query failed");
    }

    static std::string text(sqlite3_stmt* statement, int column) {
        auto const* p = reinterpret_cast<char const*>(sqlite3_column_text(statement, column));
        return p == nullptr ? std::string()
                            : std::string(p, static_cast<std::size_t>(
                                                 sqlite3_column_bytes(statement, column)));
    }

    std::string path_;
    std::unique_ptr<sqlite3, CloseDb> db_;
    Statement session_;
    Statement user_;
};

} // namespace

std::unique_ptr<Connection> open_sqlite(std::string const& path, std::string const& user_table) {
    return std::make_unique<SqliteConnection>(path, user_table);
}

} // namespace canal::django::detail
