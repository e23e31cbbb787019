// A PostgreSQL connection to a Django database, with libpq (text-format parameters and results).
#include "django/connection.hpp"

#include <libpq-fe.h>

#include <array>

namespace canal::django::detail {

namespace {

struct Finish {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct Clear {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, Clear>;

class PostgresConnection final : public Connection {
public:
    PostgresConnection(std::string const& uri, std::string const& user_table)
        : user_sql_("SELECT id::text, username, password, is_active, is_staff, is_superuser "
                    "FROM " +
                    user_table + " WHERE id = $1") {
        // The URI comes after connect_timeout: a timeout it sets itself wins.
        std::array<char const*, 3> keys{"connect_timeout", "dbname", nullptr};
        std::array<char const*, 3> values{"5", uri.c_str(), nullptr};
        conn_.reset(PQconnectdbParams(keys.data(), values.data(), 1));
        if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
            fail("cannot connect to PostgreSQL");
        }
        // libpq prints server notices to stderr; what matters reaches canal as an error.
        PQsetNoticeProcessor(conn_.get(), [](void*, char const*) {}, nullptr);
    }

    std::optional<std::string> session_data(std::string_view key,
                                            std::string_view now_utc) override {
        std::string const k(key);
        std::string const now = std::string(now_utc) + "+00";
        std::array<char const*, 2> params{k.c_str(), now.c_str()};
        auto result = exec("SELECT session_data FROM django_session "
                           "WHERE session_key = $1 AND expire_date > $2::timestamptz",
                           params.size(), params.data());
        if (PQntuples(result.get()) == 0) {
            return std::nullopt;
        }
        return std::string(PQgetvalue(result.get(), 0, 0));
    }

    std::optional<UserRow> user(std::string_view id) override {
        std::string const k(id);
        std::array<char const*, 1> params{k.c_str()};
        auto result = exec(user_sql_.c_str(), params.size(), params.data());
        if (PQntuples(result.get()) == 0) {
            return std::nullopt;
        }
        auto const* r = result.get();
        auto const flag = [r](int column) { return PQgetvalue(r, 0, column)[0] == 't'; };
        UserRow row;
        row.id = PQgetvalue(r, 0, 0);
        row.username = PQgetvalue(r, 0, 1);
        row.password = PQgetvalue(r, 0, 2);
        row.is_active = flag(3);
        row.is_staff = flag(4);
        row.is_superuser = flag(5);
        return row;
    }

private:
    [[noreturn]] void fail(std::string const& what) const {
        std::string message = what;
        if (conn_) {
            message += ": ";
            message += PQerrorMessage(conn_.get());
            while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
                message.pop_back();
            }
        }
        throw DatabaseError(message);
    }

    Result exec(char const* sql, std::size_t count, char const* const* params) {
        Result result(PQexecParams(conn_.get(), sql, static_cast<int>(count), nullptr, params,
                                   nullptr, nullptr, 0));
        if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
            fail("PostgreSQL query failed");
        }
        return result;
    }

    std::string user_sql_;
    std::unique_ptr<PGconn, Finish> conn_;
};

} // namespace

std::unique_ptr<Connection> open_postgres(std::string const& uri, std::string const& user_table) {
    return std::make_unique<PostgresConnection>(uri, user_table);
}

} // namespace canal::django::detail
