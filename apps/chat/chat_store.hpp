// ChatStore: the multichat's messages and rooms in a database (SQLite by default, PostgreSQL
// for several processes): history, edits and deletes by their author, and the live room list.
#pragma once

#include <canal/django/sql_connection.hpp>
#include <canal/sync/resource_pool.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chat {

/** The chat's database cannot be reached, or a statement failed (the message says why). */
using StoreError = canal::django::DatabaseError;
/** One connection to the chat's database. */
using SqlConnection = canal::django::SqlConnection;

/** A stored chat message. */
struct StoredMessage {
    /** Its id, unique in the database (what edit and delete name). */
    std::int64_t id = 0;
    /** The room's key (its id as text). */
    std::string room;
    /** The author's username. */
    std::string author;
    /** The text (the latest edit's). */
    std::string text;
    /** When it was sent, in milliseconds since the Unix epoch. */
    std::int64_t time_ms = 0;
    /** When it was last edited (milliseconds since the epoch), or 0. */
    std::int64_t edited_ms = 0;
};

/** A stored room: what the rooms file holds for one room. */
struct StoredRoom {
    /** The id as the rooms file or the creator wrote it, as JSON (`1` or `"lobby"`). */
    std::string id_json;
    /** The id as text (`1` and `"1"` are the same room). */
    std::string key;
    /** Shown to users. */
    std::string title;
    /** Only staff users may join. */
    bool staff_only = false;
};

/** What an edit or a delete came to. */
struct MessageChange {
    /** done, or why not. */
    enum class Result { done, not_found, deleted, forbidden };
    /** The outcome. */
    Result result = Result::not_found;
    /** The message after the change (when done). */
    StoredMessage message;
};

/**
 * The multichat's database. Every call blocks: call it from a sync consumer's handler, or
 * through sync_to_async() from a coroutine, never on an I/O thread. Every call throws
 * StoreError when the database cannot be reached or a statement fails; nothing is half done.
 *
 * @par Thread safety
 * Safe from any thread: calls share a ResourcePool of connections.
 */
class ChatStore {
public:
    /**
     * The database at `url` (`sqlite:///absolute/path`, `sqlite:relative/path`, or libpq's
     * `postgresql://...`), its schema created or migrated now (so an unreachable, locked or
     * newer database fails here, with StoreError). Throws std::invalid_argument for another
     * kind of URL.
     */
    static std::shared_ptr<ChatStore> open(std::string_view url, std::size_t pool_size = 4);

    /** The schema version this program writes (the `canal_chat_schema` table holds it). */
    static constexpr int schema_version = 1;

    /** A store over the connections `open` makes (open() is the usual way in). */
    ChatStore(canal::ResourcePool<SqlConnection>::Open open, std::size_t pool_size);

    /** Stores a message now; returns it with its id and time. */
    StoredMessage add(std::string const& room, std::string const& author, std::string const& text);

    /** The last `limit` messages of `room` not deleted, oldest first. */
    std::vector<StoredMessage> history(std::string const& room, std::size_t limit);

    /**
     * Replaces the text of message `id` of `room`, if `editor` wrote it or `staff` is true.
     * A message of another room is not_found.
     */
    MessageChange edit(std::int64_t id, std::string const& room, std::string const& editor,
                       bool staff, std::string const& text);

    /** Deletes message `id` of `room` (marks it deleted), on the same terms as edit(). */
    MessageChange remove(std::int64_t id, std::string const& room, std::string const& editor,
                         bool staff);

    /** Every room, in the order they were created. */
    std::vector<StoredRoom> rooms();

    /** Adds `room`; false when a room with its key exists. */
    bool create_room(StoredRoom const& room);

    /** Removes the room `key` (its messages stay, unreachable); false when there is none. */
    bool remove_room(std::string const& key);

    /** Adds the rooms of a rooms file when the database has none yet; returns how many. */
    std::size_t seed_rooms(std::vector<StoredRoom> const& rooms);

private:
    canal::ResourcePool<SqlConnection> pool_;

    template <typename Fn>
    auto with(Fn fn);
    MessageChange change(std::int64_t id, std::string const& room, std::string const& editor,
                         bool staff, std::optional<std::string> const& text);
};

} // namespace chat
