// ChatStore: the schema (created or migrated at start), and the statements, one SQL text for
// SQLite and PostgreSQL.
#include "chat_store.hpp"

#include <algorithm>
#include <stdexcept>

namespace chat {

namespace {

// Two canal-chat processes starting together on one database take turns: SQLite's
// BEGIN IMMEDIATE, PostgreSQL's transaction-scoped advisory lock.
std::string schema_sql(std::string_view dialect) {
    bool const pg = dialect == "postgresql";
    std::string const serial = pg ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT";
    std::string const big = pg ? "BIGINT" : "INTEGER";
    return std::string(pg ? "BEGIN; SELECT pg_advisory_xact_lock(7270001);"
                          : "BEGIN IMMEDIATE;") +
           "CREATE TABLE IF NOT EXISTS canal_chat_schema (version INTEGER NOT NULL);"
           "INSERT INTO canal_chat_schema (version) SELECT 1 "
           "  WHERE NOT EXISTS (SELECT 1 FROM canal_chat_schema);"
           "CREATE TABLE IF NOT EXISTS canal_chat_room ("
           "  key TEXT PRIMARY KEY, id_json TEXT NOT NULL, title TEXT NOT NULL,"
           "  staff_only INTEGER NOT NULL, seq " + big + " NOT NULL);"
           "CREATE TABLE IF NOT EXISTS canal_chat_message ("
           "  id " + serial + ", room TEXT NOT NULL, author TEXT NOT NULL, body TEXT NOT NULL,"
           "  sent_ms " + big + " NOT NULL, edited_ms " + big + " NOT NULL DEFAULT 0,"
           "  deleted INTEGER NOT NULL DEFAULT 0);"
           "CREATE INDEX IF NOT EXISTS canal_chat_message_room ON canal_chat_message (room, id);"
           "COMMIT;";
}

std::int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t to_int(std::optional<std::string> const& text) {
    return text ? std::stoll(*text) : 0;
}

std::string const& to_text(std::optional<std::string> const& text) {
    static std::string const none;
    return text ? *text : none;
}

std::string const message_columns = "id, room, author, body, sent_ms, edited_ms";

StoredMessage to_message(std::vector<std::optional<std::string>> const& row) {
    StoredMessage m;
    m.id = to_int(row.at(0));
    m.room = to_text(row.at(1));
    m.author = to_text(row.at(2));
    m.text = to_text(row.at(3));
    m.time_ms = to_int(row.at(4));
    m.edited_ms = to_int(row.at(5));
    return m;
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

} // namespace

template <typename Fn>
auto ChatStore::with(Fn fn) {
    try {
        return pool_.with(fn);
    } catch (canal::PoolExhausted const& e) {
        throw StoreError(std::string("the chat database: ") + e.what());
    }
}

ChatStore::ChatStore(canal::ResourcePool<SqlConnection>::Open open, std::size_t pool_size)
    : pool_(std::move(open), pool_size, std::chrono::seconds(5)) {
    with([](SqlConnection& db) {
        db.script(schema_sql(db.dialect()));
        auto const rows = db.query("SELECT MAX(version) FROM canal_chat_schema");
        auto const version = rows.empty() ? 0 : to_int(rows.front().at(0));
        if (version > schema_version) {
            throw StoreError("the chat database's schema is version " + std::to_string(version) +
                             ", newer than this canal-chat's (" +
                             std::to_string(schema_version) + "): use a newer canal-chat");
        }
        return 0;
    });
}

std::shared_ptr<ChatStore> ChatStore::open(std::string_view url, std::size_t pool_size) {
    if (starts_with(url, "sqlite:")) {
        std::string path(url.substr(7));
        if (starts_with(path, "//")) {
            path.erase(0, 2); // sqlite:///abs/path: an empty host
        }
        if (path.empty()) {
            throw std::invalid_argument("the SQLite URL '" + std::string(url) +
                                        "' names no file: use sqlite:///path/to/chat.sqlite3");
        }
        return std::make_shared<ChatStore>([path] { return SqlConnection::open_sqlite(path, true); }, pool_size);
    }
    if (starts_with(url, "postgresql://") || starts_with(url, "postgres://")) {
        std::string uri(url);
        return std::make_shared<ChatStore>([uri] { return SqlConnection::open_postgres(uri); }, pool_size);
    }
    throw std::invalid_argument("the database URL must start with sqlite: or postgresql://, "
                                "not '" + std::string(url.substr(0, 20)) + "'");
}

StoredMessage ChatStore::add(std::string const& room, std::string const& author,
                             std::string const& text) {
    StoredMessage m{0, room, author, text, now_ms(), 0};
    auto const rows = with([&](SqlConnection& db) {
        return db.query("INSERT INTO canal_chat_message (room, author, body, sent_ms) "
                        "VALUES ($1, $2, $3, CAST($4 AS BIGINT)) RETURNING id",
                        {room, author, text, std::to_string(m.time_ms)});
    });
    m.id = to_int(rows.at(0).at(0));
    return m;
}

std::vector<StoredMessage> ChatStore::history(std::string const& room, std::size_t limit) {
    auto const rows = with([&](SqlConnection& db) {
        return db.query("SELECT " + message_columns +
                            " FROM canal_chat_message WHERE room = $1 AND deleted = 0 "
                            "ORDER BY id DESC LIMIT CAST($2 AS INTEGER)",
                        {room, std::to_string(limit)});
    });
    std::vector<StoredMessage> out;
    out.reserve(rows.size());
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
        out.push_back(to_message(*it));
    }
    return out;
}

MessageChange ChatStore::change(std::int64_t id, std::string const& room,
                                std::string const& editor, bool staff,
                                std::optional<std::string> const& text) {
    return with([&](SqlConnection& db) {
        MessageChange out;
        auto const key = std::to_string(id);
        auto const found = db.query("SELECT author, deleted FROM canal_chat_message "
                                    "WHERE id = CAST($1 AS BIGINT) AND room = $2",
                                    {key, room});
        if (found.empty()) {
            return out; // not_found
        }
        if (to_int(found.front().at(1)) != 0) {
            out.result = MessageChange::Result::deleted;
            return out;
        }
        if (to_text(found.front().at(0)) != editor && !staff) {
            out.result = MessageChange::Result::forbidden;
            return out;
        }
        // `deleted = 0` again: a delete that came in between wins.
        auto const rows =
            text ? db.query("UPDATE canal_chat_message SET body = $2, edited_ms = CAST($3 AS "
                            "BIGINT) WHERE id = CAST($1 AS BIGINT) AND deleted = 0 RETURNING " +
                                message_columns,
                            {key, *text, std::to_string(now_ms())})
                 : db.query("UPDATE canal_chat_message SET deleted = 1 "
                            "WHERE id = CAST($1 AS BIGINT) AND deleted = 0 RETURNING " +
                                message_columns,
                            {key});
        if (rows.empty()) {
            out.result = MessageChange::Result::deleted;
            return out;
        }
        out.result = MessageChange::Result::done;
        out.message = to_message(rows.front());
        return out;
    });
}

MessageChange ChatStore::edit(std::int64_t id, std::string const& room, std::string const& editor,
                              bool staff, std::string const& text) {
    return change(id, room, editor, staff, text);
}

MessageChange ChatStore::remove(std::int64_t id, std::string const& room,
                                std::string const& editor, bool staff) {
    return change(id, room, editor, staff, std::nullopt);
}

std::vector<StoredRoom> ChatStore::rooms() {
    auto const rows = with([](SqlConnection& db) {
        return db.query("SELECT id_json, key, title, staff_only FROM canal_chat_room ORDER BY seq");
    });
    std::vector<StoredRoom> out;
    for (auto const& row : rows) {
        out.push_back({to_text(row.at(0)), to_text(row.at(1)), to_text(row.at(2)),
                       to_int(row.at(3)) != 0});
    }
    return out;
}

bool ChatStore::create_room(StoredRoom const& room) {
    auto const rows = with([&](SqlConnection& db) {
        // SQLite needs the WHERE to tell this ON CONFLICT from a join's.
        return db.query("INSERT INTO canal_chat_room (key, id_json, title, staff_only, seq) "
                        "SELECT $1, $2, $3, CAST($4 AS INTEGER), COALESCE(MAX(seq), 0) + 1 "
                        "FROM canal_chat_room WHERE true "
                        "ON CONFLICT (key) DO NOTHING RETURNING key",
                        {room.key, room.id_json, room.title, room.staff_only ? "1" : "0"});
    });
    return !rows.empty();
}

bool ChatStore::remove_room(std::string const& key) {
    auto const rows = with([&](SqlConnection& db) {
        return db.query("DELETE FROM canal_chat_room WHERE key = $1 RETURNING key", {key});
    });
    return !rows.empty();
}

std::size_t ChatStore::seed_rooms(std::vector<StoredRoom> const& rooms) {
    auto const count = with([](SqlConnection& db) {
        return db.query("SELECT COUNT(*) FROM canal_chat_room");
    });
    if (to_int(count.at(0).at(0)) != 0) {
        return 0;
    }
    std::size_t added = 0;
    for (auto const& room : rooms) {
        added += create_room(room) ? 1 : 0;
    }
    return added;
}

} // namespace chat
