// The multichat sample (channels-examples' "multichat"): login, rooms from a file, and one
// websocket per user carrying every room they joined.
#pragma once

#include "chat_app.hpp"
#include "chat_store.hpp"

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/core/log.hpp>
#include <canal/layers/channel_layer.hpp>
#include <canal/middleware/session_store.hpp>
#include <canal/middleware/user.hpp>
#include <canal/server/settings.hpp>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chat {

/** Message types of room events (the multichat example's MSG_TYPE_*). */
enum MsgType : int {
    msg_type_message = 0, ///< a chat message
    msg_type_enter = 4,   ///< a user joined the room
    msg_type_leave = 5,   ///< a user left the room
    msg_type_edit = 6,    ///< a message was edited (with a store)
    msg_type_delete = 7,  ///< a message was deleted (with a store)
};

/** The group every multichat connection is in: rooms created and removed. */
inline constexpr char const* rooms_group = "multichat-rooms";

/** A chat room. */
struct Room {
    /** The id as written in the rooms file (a number or a string), echoed in replies. */
    boost::json::value id;
    /** The id as text: what commands are matched against (`1` and `"1"` are the same room). */
    std::string key;
    /** Shown to users. */
    std::string title;
    /** Only staff users may join. */
    bool staff_only = false;
    /** The channel layer group of the room's members (`room-<key>`). */
    std::string group;
};

/** The rooms of the multichat, from a JSON list of `{"id", "title", "staff_only"}`. */
class RoomList {
public:
    /** Reads a parsed rooms list; throws std::invalid_argument saying what is wrong. */
    static RoomList from_json(boost::json::value const& list);
    /** Reads a rooms file; throws canal::Error naming the file. */
    static RoomList load(std::filesystem::path const& file);
    /** The rooms of a database, in its order; throws std::invalid_argument for a bad one. */
    static RoomList from_store(std::vector<StoredRoom> const& rooms);

    /**
     * A room with this id (a number or a string), title and flag; throws
     * std::invalid_argument saying what is wrong (an id that makes no group name...).
     */
    static Room make_room(boost::json::value const& id, std::string title, bool staff_only);

    /** This list with `room` at the end (replacing a room with its key). */
    [[nodiscard]] RoomList with(Room room) const;
    /** This list without the room `key`. */
    [[nodiscard]] RoomList without(std::string_view key) const;

    /** The room with this id (a number or a string), or nullptr. */
    [[nodiscard]] Room const* find(boost::json::value const& id) const;
    /** The room whose id as text is `key`, or nullptr. */
    [[nodiscard]] Room const* find_key(std::string_view key) const;
    /** All rooms, in file order. */
    [[nodiscard]] std::vector<Room> const& rooms() const noexcept { return rooms_; }

private:
    void push(Room room);

    std::vector<Room> rooms_;
    std::map<std::string, std::size_t, std::less<>> by_key_;
};

/** The room id (a number or a string) as text, or nothing for another JSON value. */
std::optional<std::string> room_key(boost::json::value const& id);

/**
 * The rooms of one process as they change (rooms created and removed while it runs): an
 * immutable RoomList snapshot, replaced whole.
 *
 * @par Thread safety
 * Safe from any thread.
 */
class RoomDirectory {
public:
    /** Starts with `rooms`. */
    explicit RoomDirectory(RoomList rooms);

    /** The rooms now; the snapshot stays valid while it is held. */
    [[nodiscard]] std::shared_ptr<RoomList const> snapshot() const;
    /** Replaces every room (after reading the database). */
    void replace(RoomList rooms);
    /** Adds `room`; false when a room with its key is there already. */
    bool add(Room room);
    /** Removes the room `key`; false when there is none. */
    bool remove(std::string_view key);

private:
    mutable std::mutex mutex_;
    std::shared_ptr<RoomList const> rooms_;
};
/** A client command of the multichat, checked against the room list. */
struct MultichatCommand {
    /** What the client asked for; `invalid` when it cannot be done (see `error`). */
    enum class Kind { join, leave, send, edit, remove, create_room, remove_room, who, invalid };
    /** The command. */
    Kind kind = Kind::invalid;
    /** The room it names (set unless `kind` is invalid or create_room). */
    Room const* room = nullptr;
    /** The text of a `send` or an `edit`. */
    std::string message;
    /** The message id of an `edit` or a `delete`. */
    std::int64_t id = 0;
    /** The room a `create_room` makes. */
    std::optional<Room> new_room;
    /**
     * For `invalid`: `ROOM_INVALID` (no such room, or a new room's id that cannot be one),
     * `ROOM_EXISTS` (create_room of a room that is there) or `COMMAND_INVALID` (anything else).
     */
    std::string error;
};

/** Parses `{"command": ..., "room": ..., "message": ...}` (shared by both consumer styles). */
MultichatCommand parse_command(RoomList const& rooms, boost::json::value const& content);

/**
 * The text a member's client gets for a room event (`chat.message`, `chat.join` or
 * `chat.leave` with `room` and `username`): `{"msg_type", "room", "username", "message"}`;
 * with a store, messages also carry `id` and `time` (and `edited` after an edit), and `own`
 * is true for the author's own messages. `chat.edit` is msg_type 6 (the new text), and
 * `chat.delete` msg_type 7 (`id` and `username`, no text).
 */
std::string room_event_text(canal::Message const& event, int msg_type, bool own = false);

/** A stored message as clients get it (msg_type 0, or 6 once edited): history and events. */
boost::json::object stored_message_json(StoredMessage const& message,
                                        boost::json::value const& room_id);

/** What a room's presence says of a connection: `{"username": ...}`. */
boost::json::object presence_meta(std::string const& username);

/**
 * A `presence.diff` of the group of one of `joined` as its members' clients get it: msg_type
 * 5 for each leave, then msg_type 4 for each join (as `chat.leave` and `chat.join` events
 * are); nothing for a group the connection has left.
 */
std::vector<std::string> presence_event_texts(canal::Message const& diff,
                                              std::vector<Room> const& joined);

/** `{"who": ROOM, "present": {USERNAME: CONNECTIONS}}` from a room's presence. */
boost::json::object who_reply(boost::json::value const& room_id,
                              std::vector<canal::PresenceEntry> const& members);

/** The layer event of a stored message (`chat.message`, `chat.edit` or `chat.delete`). */
canal::Message stored_message_event(char const* type, StoredMessage const& message,
                                    boost::json::value const& room_id);

/** What both multichat consumer styles share: the rooms, the store and the options. */
struct MultichatContext {
    /** The rooms, as they change. */
    std::shared_ptr<RoomDirectory> rooms;
    /** Messages and rooms kept in a database; null: no history, edits or room changes. */
    std::shared_ptr<ChatStore> store;
    /** Messages of history sent with a join (with a store). */
    std::size_t history = 50;
    /** Send enter/leave events to room members. */
    bool notify_enter_leave = true;
};

/** The error a client gets for an edit or delete that was not done. */
std::string change_error(MessageChange::Result result);

/** A room as clients see it in the room list: `{"id", "title", "staff_only"}`. */
boost::json::object room_json(Room const& room);

/** The reply to a join: `{"join", "title"}`, with `"history"` (own messages marked) if given. */
boost::json::object join_reply(Room const& room, std::vector<StoredMessage> const* history,
                               std::string_view username);

/** The rooms group's events: `rooms.added` and `rooms.removed`. */
canal::Message room_list_event(char const* type, Room const& room);

/** Reads the rooms from the store into the directory (blocking; logs and keeps them on error). */
void refresh_rooms(MultichatContext const& context);

/** refresh_rooms() on the handler pool, from a coroutine. */
canal::awaitable<void> refresh_rooms_async(std::shared_ptr<MultichatContext const> context);

/**
 * Runs `fn` (a blocking call of the store) and returns its result, or nothing after logging
 * `what` and the reason at warning level when it threw.
 */
template <typename Fn>
auto attempt(char const* what, Fn&& fn) -> std::optional<decltype(fn())> {
    try {
        return fn();
    } catch (std::exception const& e) {
        canal::log(canal::LogLevel::warning,
                   std::string("multichat: ") + what + " failed: " + e.what());
        return std::nullopt;
    }
}
/**
 * The multichat consumer: one websocket per logged-in user, multiplexing every joined room
 * (anonymous users are refused at the handshake: HTTP 403).
 *
 * Commands: `{"command": "join", "room": ID}`, `{"command": "leave", "room": ID}`,
 * `{"command": "send", "room": ID, "message": TEXT}`. Replies: `{"join": ID, "title": T}`,
 * `{"leave": ID}`. With a store (docs/multichat-protocol.md): the join reply carries
 * `"history"`, messages carry `id`, `time` and `own`, and `edit`, `delete`, `create_room` and
 * `remove_room` are served. Room members get `{"msg_type": 0|4|5, "room": ID, "username": NAME,
 * "message": TEXT}` (message, enter, leave; enter and leave only when notifications are
 * on, and never to the user who entered or left). Errors: `{"error": "ROOM_INVALID"}` (no
 * such room), `{"error": "ROOM_ACCESS_DENIED"}` (staff-only room for a non-staff user, or
 * sending to a room not joined), `{"error": "COMMAND_INVALID"}` (anything else). A
 * disconnect leaves every joined room.
 */
class MultichatConsumer : public canal::AsyncJsonWebsocketConsumer {
public:
    /** Serves `rooms`; `notify_enter_leave` sends enter/leave events to room members. */
    MultichatConsumer(std::shared_ptr<RoomList const> rooms, bool notify_enter_leave);
    /** Serves what `context` holds. */
    explicit MultichatConsumer(std::shared_ptr<MultichatContext const> context);

protected:
    canal::awaitable<void> connect() override;
    canal::awaitable<void> disconnect(int code) override;
    canal::awaitable<void> receive_json(boost::json::value content) override;

    /** `chat.message` from the room group: msg_type 0 to the client. */
    canal::awaitable<void> chat_message(canal::Message const& event);
    /** `chat.join` from the room group: msg_type 4 to the client. */
    canal::awaitable<void> chat_join(canal::Message const& event);
    /** `chat.leave` from the room group: msg_type 5 to the client. */
    canal::awaitable<void> chat_leave(canal::Message const& event);
    /** `chat.edit` from the room group: msg_type 6 to the client. */
    canal::awaitable<void> chat_edit(canal::Message const& event);
    /** `chat.delete` from the room group: msg_type 7 to the client. */
    canal::awaitable<void> chat_delete(canal::Message const& event);
    /** `rooms.added` from the rooms group: `{"room_added": {...}}` to the client. */
    canal::awaitable<void> rooms_added(canal::Message const& event);
    /** `rooms.removed` from the rooms group: leaves it, `{"room_removed": ID}` to the client. */
    canal::awaitable<void> rooms_removed(canal::Message const& event);
    /** `presence.diff` from a room group: msg_type 4 and 5 to the client. */
    canal::awaitable<void> presence_diff(canal::Message const& event);

private:
    void handle_events();
    canal::awaitable<void> join_room(Room const& room);
    canal::awaitable<void> leave_room(Room const& room, bool reply);
    canal::awaitable<void> who(Room const& room);
    canal::awaitable<void> send_to_room(Room const& room, std::string text);
    canal::awaitable<void> change_message(MultichatCommand const& command);
    canal::awaitable<void> change_room(Room const& room, bool create);
    canal::awaitable<void> send_error(std::string code);
    canal::awaitable<void> forward(canal::Message const& event, int msg_type);
    [[nodiscard]] bool joined(std::string_view key) const noexcept;

    std::shared_ptr<MultichatContext const> context_;
    std::vector<Room> joined_;
};

/**
 * MultichatConsumer in the sync style: the same protocol, with blocking handlers on the
 * handler pool and the channel layer reached through async_to_sync.
 */
class SyncMultichatConsumer : public canal::JsonWebsocketConsumer {
public:
    /** Serves `rooms`; `notify_enter_leave` sends enter/leave events to room members. */
    SyncMultichatConsumer(std::shared_ptr<RoomList const> rooms, bool notify_enter_leave);
    /** Serves what `context` holds. */
    explicit SyncMultichatConsumer(std::shared_ptr<MultichatContext const> context);

protected:
    void connect() override;
    void disconnect(int code) override;
    void receive_json(boost::json::value content) override;

    /** `chat.message` from the room group: msg_type 0 to the client. */
    void chat_message(canal::Message const& event);
    /** `chat.join` from the room group: msg_type 4 to the client. */
    void chat_join(canal::Message const& event);
    /** `chat.leave` from the room group: msg_type 5 to the client. */
    void chat_leave(canal::Message const& event);
    /** `chat.edit` from the room group: msg_type 6 to the client. */
    void chat_edit(canal::Message const& event);
    /** `chat.delete` from the room group: msg_type 7 to the client. */
    void chat_delete(canal::Message const& event);
    /** `rooms.added` from the rooms group: `{"room_added": {...}}` to the client. */
    void rooms_added(canal::Message const& event);
    /** `rooms.removed` from the rooms group: leaves it, `{"room_removed": ID}` to the client. */
    void rooms_removed(canal::Message const& event);
    /** `presence.diff` from a room group: msg_type 4 and 5 to the client. */
    void presence_diff(canal::Message const& event);

private:
    void handle_events();
    void join_room(Room const& room);
    void leave_room(Room const& room, bool reply);
    void who(Room const& room);
    void send_to_room(Room const& room, std::string const& text);
    void change_message(MultichatCommand const& command);
    void change_room(Room const& room, bool create);
    void send_error(std::string const& code);
    void forward(canal::Message const& event, int msg_type);
    [[nodiscard]] bool joined(std::string_view key) const noexcept;

    std::shared_ptr<MultichatContext const> context_;
    std::vector<Room> joined_;
};

/**
 * Failed logins per client address, bounded: after `max_failures` failures within
 * `window`, that address is refused until the window (started at its first failure) ends.
 * The table holds at most `max_clients` addresses; when full, expired entries go first,
 * then the oldest.
 *
 * @par Thread safety
 * Safe from any thread.
 */
class LoginThrottle {
public:
    /** The clock (replaceable in tests). */
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    explicit LoginThrottle(std::size_t max_failures = 5,
                           std::chrono::seconds window = std::chrono::minutes(5),
                           std::size_t max_clients = 10000, Clock clock = {});

    /** Time left before `client` may try again, or nothing when it may try now. */
    [[nodiscard]] std::optional<std::chrono::seconds> blocked(std::string const& client);
    /** Counts a failed login of `client`. */
    void record_failure(std::string const& client);
    /** Forgets `client` (after a successful login). */
    void reset(std::string const& client);
    /** Addresses in the table. */
    [[nodiscard]] std::size_t size() const;

private:
    struct Entry {
        std::size_t failures = 0;
        std::chrono::steady_clock::time_point since;
    };
    std::size_t max_failures_;
    std::chrono::seconds window_;
    std::size_t max_clients_;
    Clock clock_;
    mutable std::mutex mutex_;
    std::map<std::string, Entry, std::less<>> clients_;
};

/** What the multichat is made of. */
struct MultichatOptions {
    /** Users who may log in. Required unless `auth_stack` is set. */
    std::shared_ptr<canal::UserStore const> users;
    /**
     * The session and auth stack each route is wrapped in; null: AuthMiddlewareStack with
     * `sessions` and `users`, and canal's own `/login/` and `/logout/`. When set (e.g. a
     * DjangoAuthMiddlewareStack), another site logs users in and out: `/login/` and
     * `/logout/` are not served, and the pages send anonymous users to `login_url`.
     */
    std::function<canal::Application(canal::Application)> auth_stack;
    /** Where anonymous users are sent to log in. */
    std::string login_url = "/login/";
    /** Where the page's "Log out" form posts. */
    std::string logout_url = "/logout/";
    /**
     * The CSRF token of the page's forms; null: canal's own (and its csrftoken cookie). Set
     * when the forms post to another site that owns the csrftoken cookie: canal then leaves
     * that cookie alone.
     */
    std::function<std::string(canal::Scope const&)> csrf_token;
    /** The rooms. Required. */
    std::shared_ptr<RoomList const> rooms;
    /** Where sessions live; null: a MemorySessionStore. */
    std::shared_ptr<canal::SessionStore> sessions;
    /** Hosts websockets may come from (AllowedHostsOriginValidator); empty: localhost. */
    std::vector<std::string> allowed_hosts;
    /** Send enter/leave events to room members. */
    bool notify_enter_leave = true;
    /** Failed-login limits; null: LoginThrottle's defaults. */
    std::shared_ptr<LoginThrottle> throttle;
    /** MultichatConsumer (async) or SyncMultichatConsumer (sync). */
    ConsumerStyle style = ConsumerStyle::async;
    /**
     * Where messages and rooms are kept; null: nowhere (no history, edits or room changes).
     * When set, `rooms` seeds a database that has no rooms yet, and the database's rooms
     * are served.
     */
    std::shared_ptr<ChatStore> store;
    /** Messages of history sent with a join, with a store. */
    std::size_t history = 50;
};

/**
 * The fields of an `application/x-www-form-urlencoded` body (the login form): the first value
 * of each name, decoded (`+` is a space, `%2B` a plus). A body that is not well-formed (a
 * `%` without two hex digits) gives no fields at all.
 */
std::map<std::string, std::string, std::less<>> parse_form(std::string_view body);

/**
 * The multichat routes: `/login/` (GET: the form and a `csrftoken` cookie; POST:
 * `username`, `password`, `csrfmiddlewaretoken` → 302 to `/multichat/`, a wrong password
 * renders the form again, a missing or wrong CSRF token is 403, too many failures 429),
 * `/logout/` (POST with `csrfmiddlewaretoken`, as Django's LogoutView: ends the session,
 * 302 to `/login/`; GET is 405, a missing or wrong token 403), `/multichat/` (the page) and `/multichat/rooms/` (its JSON data), both
 * redirecting anonymous users to `/login/`; and the websocket `/chat/stream/` behind
 * AllowedHostsOriginValidator and AuthMiddlewareStack. Every other path goes to `fallback`.
 * Throws std::invalid_argument when `options.rooms` is null, or `options.users` is null
 * without an `options.auth_stack`.
 */
canal::Application make_multichat_application(std::filesystem::path const& static_dir,
                                              MultichatOptions options,
                                              canal::Application fallback);

/**
 * Adds canal-chat's multichat flags: `--users`, `--rooms`, `--allowed-hosts` (for both
 * chats), `--sessions` (memory or a Redis URL), `--room-notifications`, and the Django
 * site's (`--django-db`, `--django-secret-key-file`, `--django-session-engine`,
 * `--django-session-cookie`, `--django-cache`, `--django-login-url`, `--django-logout-url`).
 */
void add_multichat_flags(std::vector<canal::Settings::Flag>& flags);

/** The hosts of `--allowed-hosts` (comma-separated), for both chats' origin checks. */
std::vector<std::string> allowed_hosts_flag(std::vector<canal::Settings::Flag> const& flags);

/**
 * The multichat's users from a Django site, from the `--django-*` flags: `auth_stack` (a
 * DjangoAuthMiddlewareStack), `login_url` and `logout_url` of `options`. Throws
 * std::invalid_argument or canal::Error saying which flag is wrong.
 */
void use_django_users(MultichatOptions& options, std::vector<canal::Settings::Flag> const& flags);

/**
 * `app` with the multichat in front when `--rooms` and `--users` (or `--django-db`) were
 * given, else `app`.
 * Sessions go to `sessions` when given, else where `--sessions` says; `--consumer sync`
 * picks SyncMultichatConsumer. Prints the problem
 * and exits with status 2 when the flags or files are wrong.
 */
canal::Application with_multichat(canal::Application app, std::filesystem::path const& static_dir,
                                  std::vector<canal::Settings::Flag> const& flags,
                                  std::shared_ptr<canal::SessionStore> sessions = nullptr);

/**
 * `canal-chat createuser --users FILE NAME [--staff]`: adds a user; the password is read
 * from `in` (one line; on a terminal, prompted twice without echo). Returns the exit status.
 */
int createuser_main(std::vector<std::string> const& args, std::istream& in, std::ostream& out,
                    std::ostream& err, bool terminal);

/** createuser_main() on stdin/stdout/stderr, for main(): `argv[0]` is "createuser". */
int createuser_main(int argc, char** argv);

/**
 * `canal-chat createroom (--db URL | --rooms FILE) [--layer URL] ID TITLE [--staff-only]` and
 * `canal-chat removeroom ... ID` (`args[0]` names which): changes the rooms in the database
 * and, with `--layer`, tells the running servers' users at once. Returns the exit status
 * (1: the room exists, is missing, or the database failed; 2: bad arguments).
 */
int room_admin_main(std::vector<std::string> const& args, std::ostream& out, std::ostream& err);

} // namespace chat
