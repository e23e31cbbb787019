// SqlConnection on PostgreSQL (libpq, text parameters and results).
#include <canal/django/sql_connection.hpp>

#include <libpq-fe.h>

#include <array>

namespace canal::django {

namespace {

struct Finish {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct Clear {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, Clear>;

class PostgresConnection final : public SqlConnection {
public:
    explicit PostgresConnection(std::string const& uri) {
        // The URI comes after connect_timeout: a timeout it sets itself wins.
        std::array<char const*, 3> keys{"connect_timeout", "dbname", nullptr};
        std::array<char const*, 3> values{"5", uri.c_str(), nullptr};
        conn_.reset(PQconnectdbParams(keys.data(), values.data(), 1));
        if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
            fail("cannot connect to PostgreSQL");
        }
        // libpq prints server notices to stderr; what matters reaches the caller as an error.
        PQsetNoticeProcessor(conn_.get(), [](void*, char const*) {}, nullptr);
    }

    SqlRows query(std::string const& sql, std::vector<std::string> const& params) override {
        std::vector<char const*> values;
        values.reserve(params.size());
        for (auto const& p : params) {
            values.push_back(p.c_str());
        }
        Result result(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()),
                                   nullptr, values.data(), nullptr, nullptr, 0));
        auto const status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            fail("a PostgreSQL statement failed");
        }
        SqlRows rows;
        int const count = PQntuples(result.get());
        int const columns = PQnfields(result.get());
        for (int r = 0; r < count; ++r) {
            auto& row = rows.emplace_back();
            for (int c = 0; c < columns; ++c) {
                if (PQgetisnull(result.get(), r, c) != 0) {
                    row.emplace_back();
                } else {
                    row.emplace_back(std::string(PQgetvalue(result.get(), r, c),
                                                 static_cast<std::size_t>(
                                                     PQgetlength(result.get(), r, c))));
                }
            }
        }
        return rows;
    }

    void script(std::string const& sql) override {
        // Several statements in one simple query run as one transaction.
        Result result(PQexec(conn_.get(), sql.c_str()));
        auto const status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
            fail("a PostgreSQL statement failed");
        }
    }

    [[nodiscard]] char const* dialect() const noexcept override { return "postgresql"; }

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

    std::unique_ptr<PGconn, Finish> conn_;
};

} // namespace

std::unique_ptr<SqlConnection> SqlConnection::open_postgres(std::string const& uri) {
    return std::make_unique<PostgresConnection>(uri);
}

} // namespace canal::django
