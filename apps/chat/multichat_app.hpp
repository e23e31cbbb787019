// The multichat sample (channels-examples' "multichat"): login, rooms from a file, and one
// websocket per user carrying every room they joined.
#pragma once

#include "chat_app.hpp"

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/middleware/session_store.hpp>
#include <canal/middleware/user.hpp>
#include <canal/server/settings.hpp>

#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
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
};

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

    /** The room with this id (a number or a string), or nullptr. */
    [[nodiscard]] Room const* find(boost::json::value const& id) const;
    /** All rooms, in file order. */
    [[nodiscard]] std::vector<Room> const& rooms() const noexcept { return rooms_; }

private:
    std::vector<Room> rooms_;
    std::map<std::string, std::size_t, std::less<>> by_key_;
};

/** A client command of the multichat, checked against the room list. */
struct MultichatCommand {
    /** What the client asked for; `invalid` when it cannot be done (see `error`). */
    enum class Kind { join, leave, send, invalid };
    /** The command. */
    Kind kind = Kind::invalid;
    /** The room it names (set unless `kind` is invalid). */
    Room const* room = nullptr;
    /** The text of a `send`. */
    std::string message;
    /** For `invalid`: `ROOM_INVALID` (no such room) or `COMMAND_INVALID` (anything else). */
    std::string error;
};

/** Parses `{"command": ..., "room": ..., "message": ...}` (shared by both consumer styles). */
MultichatCommand parse_command(RoomList const& rooms, boost::json::value const& content);

/**
 * The text a member's client gets for a room event (`chat.message`, `chat.join` or
 * `chat.leave` with `room` and `username`): `{"msg_type", "room", "username", "message"}`.
 */
std::string room_event_text(canal::Message const& event, int msg_type);

/**
 * The multichat consumer: one websocket per logged-in user, multiplexing every joined room
 * (anonymous users are refused at the handshake: HTTP 403).
 *
 * Commands: `{"command": "join", "room": ID}`, `{"command": "leave", "room": ID}`,
 * `{"command": "send", "room": ID, "message": TEXT}`. Replies: `{"join": ID, "title": T}`,
 * `{"leave": ID}`. Room members get `{"msg_type": 0|4|5, "room": ID, "username": NAME,
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

private:
    canal::awaitable<void> join_room(Room const& room);
    canal::awaitable<void> leave_room(Room const& room, bool reply);
    canal::awaitable<void> send_to_room(Room const& room, std::string text);
    canal::awaitable<void> send_error(std::string code);
    canal::awaitable<void> forward(canal::Message const& event, int msg_type);
    [[nodiscard]] bool joined(Room const& room) const noexcept;

    std::shared_ptr<RoomList const> rooms_;
    bool notify_;
    std::vector<Room const*> joined_;
};

/**
 * MultichatConsumer in the sync style: the same protocol, with blocking handlers on the
 * handler pool and the channel layer reached through async_to_sync.
 */
class SyncMultichatConsumer : public canal::JsonWebsocketConsumer {
public:
    /** Serves `rooms`; `notify_enter_leave` sends enter/leave events to room members. */
    SyncMultichatConsumer(std::shared_ptr<RoomList const> rooms, bool notify_enter_leave);

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

private:
    void join_room(Room const& room);
    void leave_room(Room const& room, bool reply);
    void send_to_room(Room const& room, std::string const& text);
    void send_error(std::string const& code);
    [[nodiscard]] bool joined(Room const& room) const noexcept;

    std::shared_ptr<RoomList const> rooms_;
    bool notify_;
    std::vector<Room const*> joined_;
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

} // namespace chat
