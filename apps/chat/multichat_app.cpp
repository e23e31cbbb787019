// The multichat sample: rooms, the multiplexing consumer, the login pages and createuser.
#include "multichat_app.hpp"

#include <canal/core/errors.hpp>
#include <canal/middleware/auth_middleware.hpp>
#include <canal/middleware/cookie_middleware.hpp>
#include <canal/middleware/csrf.hpp>
#include <canal/middleware/json_file_user_store.hpp>
#include <canal/middleware/memory_session_store.hpp>
#include <canal/middleware/origin_validator.hpp>
#include <canal/middleware/redis_session_store.hpp>
#include <canal/redis/client.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/server/static_files.hpp>
#include <canal/sync/async_to_sync.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <termios.h>
#include <unistd.h>
#include <utility>

namespace chat {

// --- rooms ------------------------------------------------------------------------------

namespace {

std::optional<std::string> room_key(boost::json::value const& id) {
    if (id.is_int64()) {
        return std::to_string(id.as_int64());
    }
    if (id.is_uint64()) {
        return std::to_string(id.as_uint64());
    }
    if (id.is_string()) {
        return std::string(id.as_string());
    }
    return std::nullopt;
}

} // namespace

RoomList RoomList::from_json(boost::json::value const& list) {
    auto const* items = list.if_array();
    if (items == nullptr) {
        throw std::invalid_argument("the rooms must be a JSON list of {\"id\", \"title\", "
                                    "\"staff_only\"} objects");
    }
    RoomList out;
    for (auto const& item : *items) {
        auto const* obj = item.if_object();
        auto const* id = obj != nullptr ? obj->if_contains("id") : nullptr;
        auto const* title = obj != nullptr ? obj->if_contains("title") : nullptr;
        auto const* staff = obj != nullptr ? obj->if_contains("staff_only") : nullptr;
        auto const key = id != nullptr ? room_key(*id) : std::nullopt;
        if (!key || title == nullptr || !title->is_string() ||
            (staff != nullptr && !staff->is_bool())) {
            throw std::invalid_argument(
                "each room needs an \"id\" (number or string), a string \"title\" and "
                "optionally a boolean \"staff_only\": " +
                boost::json::serialize(item));
        }
        Room room;
        room.id = *id;
        room.key = *key;
        room.title = std::string(title->as_string());
        room.staff_only = staff != nullptr && staff->as_bool();
        room.group = "room-" + room.key;
        if (!canal::ChannelLayer::is_valid_group_name(room.group)) {
            throw std::invalid_argument("room id '" + room.key +
                                        "' is not allowed: use ASCII letters, digits, '-', "
                                        "'_' and '.', under 95 characters");
        }
        if (out.by_key_.contains(room.key)) {
            throw std::invalid_argument("room id '" + room.key + "' appears twice");
        }
        out.by_key_.emplace(room.key, out.rooms_.size());
        out.rooms_.push_back(std::move(room));
    }
    return out;
}

RoomList RoomList::load(std::filesystem::path const& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw canal::Error("cannot read the rooms file " + file.string());
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    boost::system::error_code ec;
    auto doc = boost::json::parse(text, ec);
    if (ec) {
        throw canal::Error("rooms file " + file.string() + " is not JSON: " + ec.message());
    }
    try {
        return from_json(doc);
    } catch (std::invalid_argument const& e) {
        throw canal::Error("rooms file " + file.string() + ": " + e.what());
    }
}

Room const* RoomList::find(boost::json::value const& id) const {
    auto const key = room_key(id);
    if (!key) {
        return nullptr;
    }
    auto found = by_key_.find(*key);
    return found == by_key_.end() ? nullptr : &rooms_[found->second];
}

// --- the consumer -----------------------------------------------------------------------

MultichatConsumer::MultichatConsumer(std::shared_ptr<RoomList const> rooms, bool notify_enter_leave)
    : rooms_(std::move(rooms)), notify_(notify_enter_leave) {
    on("chat.message", &MultichatConsumer::chat_message);
    on("chat.join", &MultichatConsumer::chat_join);
    on("chat.leave", &MultichatConsumer::chat_leave);
}

canal::awaitable<void> MultichatConsumer::connect() {
    auto const& user = scope().user;
    if (!user || !user->is_authenticated()) {
        // Refused before accept: the client gets HTTP 403.
        co_await close();
        co_return;
    }
    co_await accept();
}

canal::awaitable<void> MultichatConsumer::disconnect(int /*code*/) {
    // Leave every room, last joined first; leave_room() edits joined_, so work on a copy.
    auto const rooms = joined_;
    for (auto it = rooms.rbegin(); it != rooms.rend(); ++it) {
        co_await leave_room(**it, false);
    }
}

canal::awaitable<void> MultichatConsumer::receive_json(boost::json::value content) {
    auto command = parse_command(*rooms_, content);
    switch (command.kind) {
    case MultichatCommand::Kind::join:
        co_await join_room(*command.room);
        break;
    case MultichatCommand::Kind::leave:
        co_await leave_room(*command.room, true);
        break;
    case MultichatCommand::Kind::send:
        co_await send_to_room(*command.room, std::move(command.message));
        break;
    case MultichatCommand::Kind::invalid:
        co_await send_error(std::move(command.error));
        break;
    }
}

bool MultichatConsumer::joined(Room const& room) const noexcept {
    return std::find(joined_.begin(), joined_.end(), &room) != joined_.end();
}

canal::awaitable<void> MultichatConsumer::join_room(Room const& room) {
    auto const& user = *scope().user;
    if (room.staff_only && !user.is_staff) {
        co_await send_error("ROOM_ACCESS_DENIED");
        co_return;
    }
    if (!joined(room)) {
        if (notify_) {
            // Sent before joining: the members hear of it, the user who enters does not.
            canal::Message event{
                {"type", "chat.join"}, {"room", room.id}, {"username", user.username}};
            co_await channel_layer().group_send(room.group, std::move(event));
        }
        co_await channel_layer().group_add(room.group, channel_name());
        joined_.push_back(&room);
    }
    boost::json::object reply{{"join", room.id}, {"title", room.title}};
    co_await send_json(std::move(reply));
}

canal::awaitable<void> MultichatConsumer::leave_room(Room const& room, bool reply) {
    if (joined(room)) {
        std::erase(joined_, &room);
        co_await channel_layer().group_discard(room.group, channel_name());
        if (notify_) {
            // Sent after leaving: the user who leaves does not get it.
            canal::Message event{
                {"type", "chat.leave"}, {"room", room.id}, {"username", scope().user->username}};
            co_await channel_layer().group_send(room.group, std::move(event));
        }
    }
    if (reply) {
        boost::json::object out{{"leave", room.id}};
        co_await send_json(std::move(out));
    }
}

canal::awaitable<void> MultichatConsumer::send_to_room(Room const& room, std::string text) {
    if (!joined(room)) {
        co_await send_error("ROOM_ACCESS_DENIED");
        co_return;
    }
    canal::Message event{{"type", "chat.message"},
                         {"room", room.id},
                         {"username", scope().user->username},
                         {"message", text}};
    co_await channel_layer().group_send(room.group, std::move(event));
}

canal::awaitable<void> MultichatConsumer::send_error(std::string code) {
    boost::json::object out{{"error", code}};
    co_await send_json(std::move(out));
}

canal::awaitable<void> MultichatConsumer::forward(canal::Message const& event, int msg_type) {
    // Every member sends the same bytes: build them once per group message.
    auto text =
        event.shared_text("multichat.out", [&] { return room_event_text(event, msg_type); });
    co_await send(std::move(text));
}

canal::awaitable<void> MultichatConsumer::chat_message(canal::Message const& event) {
    co_await forward(event, msg_type_message);
}

canal::awaitable<void> MultichatConsumer::chat_join(canal::Message const& event) {
    co_await forward(event, msg_type_enter);
}

canal::awaitable<void> MultichatConsumer::chat_leave(canal::Message const& event) {
    co_await forward(event, msg_type_leave);
}

// --- shared by both consumer styles -----------------------------------------------------

MultichatCommand parse_command(RoomList const& rooms, boost::json::value const& content) {
    MultichatCommand out;
    out.error = "COMMAND_INVALID";
    auto const* obj = content.if_object();
    auto const* command = obj != nullptr ? obj->if_contains("command") : nullptr;
    if (command == nullptr || !command->is_string()) {
        return out;
    }
    auto const& name = command->as_string();
    MultichatCommand::Kind kind = MultichatCommand::Kind::invalid;
    if (name == "join") {
        kind = MultichatCommand::Kind::join;
    } else if (name == "leave") {
        kind = MultichatCommand::Kind::leave;
    } else if (name == "send") {
        kind = MultichatCommand::Kind::send;
    } else {
        return out;
    }
    auto const* id = obj->if_contains("room");
    out.room = id != nullptr ? rooms.find(*id) : nullptr;
    if (out.room == nullptr) {
        out.error = "ROOM_INVALID";
        return out;
    }
    if (kind == MultichatCommand::Kind::send) {
        auto const* text = obj->if_contains("message");
        if (text == nullptr || !text->is_string()) {
            out.room = nullptr;
            return out;
        }
        out.message = std::string(text->as_string());
    }
    out.kind = kind;
    out.error.clear();
    return out;
}

std::string room_event_text(canal::Message const& event, int msg_type) {
    boost::json::object out;
    out["msg_type"] = msg_type;
    out["room"] = event.at("room");
    out["username"] = event.at("username");
    if (msg_type == msg_type_message) {
        out["message"] = event.at("message");
    } else {
        out["message"] = msg_type == msg_type_enter ? "joined the room" : "left the room";
    }
    return boost::json::serialize(out);
}

// --- the same consumer, sync style ------------------------------------------------------

SyncMultichatConsumer::SyncMultichatConsumer(std::shared_ptr<RoomList const> rooms,
                                             bool notify_enter_leave)
    : rooms_(std::move(rooms)), notify_(notify_enter_leave) {
    on("chat.message", &SyncMultichatConsumer::chat_message);
    on("chat.join", &SyncMultichatConsumer::chat_join);
    on("chat.leave", &SyncMultichatConsumer::chat_leave);
}

void SyncMultichatConsumer::connect() {
    auto const& user = scope().user;
    if (!user || !user->is_authenticated()) {
        close(); // before accept: HTTP 403
        return;
    }
    accept();
}

void SyncMultichatConsumer::disconnect(int /*code*/) {
    auto const rooms = joined_;
    for (auto it = rooms.rbegin(); it != rooms.rend(); ++it) {
        leave_room(**it, false);
    }
}

void SyncMultichatConsumer::receive_json(boost::json::value content) {
    auto const command = parse_command(*rooms_, content);
    switch (command.kind) {
    case MultichatCommand::Kind::join:
        join_room(*command.room);
        break;
    case MultichatCommand::Kind::leave:
        leave_room(*command.room, true);
        break;
    case MultichatCommand::Kind::send:
        send_to_room(*command.room, command.message);
        break;
    case MultichatCommand::Kind::invalid:
        send_error(command.error);
        break;
    }
}

bool SyncMultichatConsumer::joined(Room const& room) const noexcept {
    return std::find(joined_.begin(), joined_.end(), &room) != joined_.end();
}

void SyncMultichatConsumer::join_room(Room const& room) {
    auto const& user = *scope().user;
    if (room.staff_only && !user.is_staff) {
        send_error("ROOM_ACCESS_DENIED");
        return;
    }
    if (!joined(room)) {
        if (notify_) {
            canal::Message event{
                {"type", "chat.join"}, {"room", room.id}, {"username", user.username}};
            canal::async_to_sync([&] { return channel_layer().group_send(room.group, event); });
        }
        canal::async_to_sync([&] { return channel_layer().group_add(room.group, channel_name()); });
        joined_.push_back(&room);
    }
    send_json(boost::json::object{{"join", room.id}, {"title", room.title}});
}

void SyncMultichatConsumer::leave_room(Room const& room, bool reply) {
    if (joined(room)) {
        std::erase(joined_, &room);
        canal::async_to_sync(
            [&] { return channel_layer().group_discard(room.group, channel_name()); });
        if (notify_) {
            canal::Message event{
                {"type", "chat.leave"}, {"room", room.id}, {"username", scope().user->username}};
            canal::async_to_sync([&] { return channel_layer().group_send(room.group, event); });
        }
    }
    if (reply) {
        send_json(boost::json::object{{"leave", room.id}});
    }
}

void SyncMultichatConsumer::send_to_room(Room const& room, std::string const& text) {
    if (!joined(room)) {
        send_error("ROOM_ACCESS_DENIED");
        return;
    }
    canal::Message event{{"type", "chat.message"},
                         {"room", room.id},
                         {"username", scope().user->username},
                         {"message", text}};
    canal::async_to_sync([&] { return channel_layer().group_send(room.group, event); });
}

void SyncMultichatConsumer::send_error(std::string const& code) {
    send_json(boost::json::object{{"error", code}});
}

void SyncMultichatConsumer::chat_message(canal::Message const& event) {
    send(event.shared_text("multichat.out",
                           [&] { return room_event_text(event, msg_type_message); }));
}

void SyncMultichatConsumer::chat_join(canal::Message const& event) {
    send(
        event.shared_text("multichat.out", [&] { return room_event_text(event, msg_type_enter); }));
}

void SyncMultichatConsumer::chat_leave(canal::Message const& event) {
    send(
        event.shared_text("multichat.out", [&] { return room_event_text(event, msg_type_leave); }));
}

// --- failed-login throttle --------------------------------------------------------------

LoginThrottle::LoginThrottle(std::size_t max_failures, std::chrono::seconds window,
                             std::size_t max_clients, Clock clock)
    : max_failures_(max_failures == 0 ? 1 : max_failures), window_(window),
      max_clients_(max_clients == 0 ? 1 : max_clients), clock_(std::move(clock)) {
    if (!clock_) {
        clock_ = [] { return std::chrono::steady_clock::now(); };
    }
}

std::optional<std::chrono::seconds> LoginThrottle::blocked(std::string const& client) {
    auto const now = clock_();
    std::lock_guard lock{mutex_};
    auto found = clients_.find(client);
    if (found == clients_.end()) {
        return std::nullopt;
    }
    auto const ends = found->second.since + window_;
    if (ends <= now) {
        clients_.erase(found);
        return std::nullopt;
    }
    if (found->second.failures < max_failures_) {
        return std::nullopt;
    }
    auto const left = std::chrono::ceil<std::chrono::seconds>(ends - now);
    return left;
}

void LoginThrottle::record_failure(std::string const& client) {
    auto const now = clock_();
    std::lock_guard lock{mutex_};
    auto found = clients_.find(client);
    if (found != clients_.end() && found->second.since + window_ <= now) {
        clients_.erase(found);
        found = clients_.end();
    }
    if (found == clients_.end()) {
        if (clients_.size() >= max_clients_) {
            std::erase_if(clients_, [&](auto const& e) { return e.second.since + window_ <= now; });
        }
        if (clients_.size() >= max_clients_) {
            auto oldest = std::min_element(
                clients_.begin(), clients_.end(),
                [](auto const& a, auto const& b) { return a.second.since < b.second.since; });
            clients_.erase(oldest);
        }
        found = clients_.emplace(client, Entry{0, now}).first;
    }
    ++found->second.failures;
}

void LoginThrottle::reset(std::string const& client) {
    std::lock_guard lock{mutex_};
    clients_.erase(client);
}

std::size_t LoginThrottle::size() const {
    std::lock_guard lock{mutex_};
    return clients_.size();
}

// --- HTTP views -------------------------------------------------------------------------

namespace {

struct Views {
    std::filesystem::path static_dir;
    std::shared_ptr<canal::UserStore const> users;
    std::shared_ptr<RoomList const> rooms;
    std::shared_ptr<LoginThrottle> throttle;
};

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&#x27;";
            break;
        default:
            out.push_back(c);
        }
    }
    return out;
}

std::string url_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out.push_back(' ');
        } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

// application/x-www-form-urlencoded: the first value of each name.
std::map<std::string, std::string, std::less<>> parse_form(std::string_view body) {
    std::map<std::string, std::string, std::less<>> out;
    while (!body.empty()) {
        auto const amp = body.find('&');
        auto const pair = body.substr(0, amp);
        auto const eq = pair.find('=');
        auto name = url_decode(pair.substr(0, eq));
        auto value = eq == std::string_view::npos ? std::string() : url_decode(pair.substr(eq + 1));
        out.emplace(std::move(name), std::move(value));
        body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    }
    return out;
}

std::string read_text(std::filesystem::path const& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw canal::Error("cannot read " + file.string());
    }
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
    for (auto at = text.find(what); at != std::string::npos;
         at = text.find(what, at + with.size())) {
        text.replace(at, what.size(), with);
    }
}

canal::HttpResponseStart response_start(int status, std::string content_type) {
    canal::HttpResponseStart start;
    start.status = status;
    start.headers.emplace_back("content-type", std::move(content_type));
    start.headers.emplace_back("cache-control", "no-store");
    return start;
}

canal::awaitable<void> respond(canal::Send send, canal::HttpResponseStart start, std::string body) {
    canal::Event head = std::move(start);
    co_await send(std::move(head));
    canal::Event part = canal::HttpResponseBody{std::move(body), false};
    co_await send(std::move(part));
}

canal::awaitable<void> redirect(canal::Send send, std::string location) {
    auto start = response_start(302, "text/plain; charset=utf-8");
    start.headers.emplace_back("location", std::move(location));
    co_await respond(std::move(send), std::move(start), std::string("redirecting\n"));
}

// The CSRF secret of the csrftoken cookie, or "" when there is none (or it is malformed).
std::string csrf_secret_of(canal::Scope const& scope) {
    auto const cookie = scope.cookies.find(canal::csrf_cookie_name);
    return cookie != scope.cookies.end() && canal::csrf_is_valid_secret(cookie->second)
               ? cookie->second
               : std::string();
}

// Sets the csrftoken cookie (a year, like Django's CSRF_COOKIE_AGE).
void set_csrf_cookie(canal::HttpResponseStart& start, canal::Scope const& scope,
                     std::string const& secret) {
    canal::CookieOptions options;
    options.max_age = std::chrono::hours(24 * 365);
    options.secure = canal::is_secure(scope);
    canal::set_cookie(start, canal::csrf_cookie_name, secret, options);
}

// A page with `{{csrf_token}}` replaced by a fresh masked token for the cookie's secret (a
// new secret, and cookie, when there is none), as Django's {% csrf_token %}.
canal::HttpResponseStart with_csrf_token(canal::Scope const& scope, std::string& page,
                                         int status, std::string secret = {}) {
    if (secret.empty()) {
        secret = csrf_secret_of(scope);
    }
    if (secret.empty()) {
        secret = canal::csrf_new_secret();
    }
    replace_all(page, "{{csrf_token}}", canal::csrf_mask(secret));
    auto start = response_start(status, "text/html; charset=utf-8");
    set_csrf_cookie(start, scope, secret);
    return start;
}

// The form, with a fresh masked token for `secret`; sets the csrftoken cookie.
canal::awaitable<void> render_login(std::shared_ptr<Views const> views, canal::Scope const& scope,
                                    canal::Send send, int status, std::string secret,
                                    std::string error, std::string username) {
    auto page = read_text(views->static_dir / "login.html");
    replace_all(page, "{{username}}", html_escape(username));
    replace_all(page, "{{error}}", html_escape(error));
    replace_all(page, "{{error_hidden}}", error.empty() ? "hidden" : "");
    auto start = with_csrf_token(scope, page, status, std::move(secret));
    co_await respond(std::move(send), std::move(start), std::move(page));
}

canal::awaitable<std::string> request_body(canal::Receive receive) {
    for (;;) {
        auto event = co_await receive();
        if (auto* request = std::get_if<canal::HttpRequest>(&event)) {
            co_return std::move(request->body);
        }
        if (std::holds_alternative<canal::HttpDisconnect>(event)) {
            throw canal::StopConsumer();
        }
    }
}

// The form of a POST whose csrfmiddlewaretoken matches the csrftoken cookie. Otherwise answers
// (405 naming `allow` for another method, 403 for a missing or wrong token) and returns
// nothing. `allow` by value, built by the caller in its own statement (g++ 12 and co_await
// operands: a string literal there crashed).
canal::awaitable<std::optional<std::map<std::string, std::string, std::less<>>>>
checked_post(canal::Scope const& scope, canal::Receive receive, canal::Send send,
             std::string allow) {
    if (scope.method != "POST") {
        auto start = response_start(405, "text/plain; charset=utf-8");
        start.headers.emplace_back("allow", std::move(allow));
        co_await respond(std::move(send), std::move(start), std::string("method not allowed\n"));
        co_return std::nullopt;
    }
    auto form = parse_form(co_await request_body(std::move(receive)));
    auto const secret = csrf_secret_of(scope);
    auto const token = form.find(canal::csrf_field_name);
    if (secret.empty() || token == form.end() || !canal::csrf_check(secret, token->second)) {
        auto start = response_start(403, "text/plain; charset=utf-8");
        co_await respond(std::move(send), std::move(start),
                         std::string("CSRF verification failed: the form's csrfmiddlewaretoken "
                                     "does not match the csrftoken cookie. Reload the page and "
                                     "try again.\n"));
        co_return std::nullopt;
    }
    co_return form;
}

canal::awaitable<void> login_view(std::shared_ptr<Views const> views, canal::Scope scope,
                                  canal::Receive receive, canal::Send send) {
    std::string secret = csrf_secret_of(scope);
    if (scope.method == "GET" || scope.method == "HEAD") {
        if (secret.empty()) {
            secret = canal::csrf_new_secret();
        }
        co_await render_login(views, scope, std::move(send), 200, std::move(secret), std::string(),
                              std::string());
        co_return;
    }
    std::string allow = "GET, HEAD, POST";
    auto checked = co_await checked_post(scope, std::move(receive), send, std::move(allow));
    if (!checked) {
        co_return;
    }
    auto& form = *checked;
    std::string const client = scope.client ? scope.client->host : std::string("unknown");
    auto const username = form["username"];
    if (auto wait = views->throttle->blocked(client)) {
        co_await render_login(views, scope, std::move(send), 429, std::move(secret),
                              "Too many failed logins from your address: try again in " +
                                  std::to_string(wait->count()) + " seconds.",
                              username);
        co_return;
    }
    auto user = co_await canal::aauthenticate(views->users, username, form["password"]);
    if (!user) {
        views->throttle->record_failure(client);
        co_await render_login(views, scope, std::move(send), 200, std::move(secret),
                              std::string("Please enter a correct username and password."),
                              username);
        co_return;
    }
    views->throttle->reset(client);
    canal::login(scope, *user);
    // A new CSRF secret after login, as Django rotates it.
    auto start = response_start(302, "text/plain; charset=utf-8");
    start.headers.emplace_back("location", "/multichat/");
    set_csrf_cookie(start, scope, canal::csrf_new_secret());
    co_await respond(std::move(send), std::move(start), std::string("logged in\n"));
}

// Django's LogoutView (4.1+): POST with a CSRF token only, so that another site cannot log a
// user out with a link or an image; GET is 405.
canal::awaitable<void> logout_view(canal::Scope scope, canal::Receive receive, canal::Send send) {
    std::string allow = "POST";
    auto checked = co_await checked_post(scope, std::move(receive), send, std::move(allow));
    if (!checked) {
        co_return;
    }
    canal::logout(scope);
    co_await redirect(std::move(send), std::string("/login/"));
}

bool logged_in(canal::Scope const& scope) { return scope.user && scope.user->is_authenticated(); }

canal::awaitable<void> page_view(std::shared_ptr<Views const> views, canal::Scope scope,
                                 canal::Receive /*receive*/, canal::Send send) {
    if (!logged_in(scope)) {
        co_await redirect(std::move(send), std::string("/login/"));
        co_return;
    }
    auto page = read_text(views->static_dir / "multichat.html"); // its logout form's token
    auto start = with_csrf_token(scope, page, 200);
    co_await respond(std::move(send), std::move(start), std::move(page));
}

canal::awaitable<void> rooms_view(std::shared_ptr<Views const> views, canal::Scope scope,
                                  canal::Receive /*receive*/, canal::Send send) {
    if (!logged_in(scope)) {
        co_await redirect(std::move(send), std::string("/login/"));
        co_return;
    }
    boost::json::array rooms;
    for (auto const& room : views->rooms->rooms()) {
        boost::json::object r;
        r["id"] = room.id;
        r["title"] = room.title;
        r["staff_only"] = room.staff_only;
        rooms.push_back(std::move(r));
    }
    boost::json::object out;
    out["username"] = scope.user->username;
    out["is_staff"] = scope.user->is_staff;
    out["rooms"] = std::move(rooms);
    auto start = response_start(200, "application/json");
    co_await respond(std::move(send), std::move(start), boost::json::serialize(out));
}

} // namespace

canal::Application make_multichat_application(std::filesystem::path const& static_dir,
                                              MultichatOptions options,
                                              canal::Application fallback) {
    if (!options.users || !options.rooms) {
        throw std::invalid_argument("the multichat needs a user store and a room list");
    }
    if (!options.sessions) {
        options.sessions = std::make_shared<canal::MemorySessionStore>();
    }
    if (!options.throttle) {
        options.throttle = std::make_shared<LoginThrottle>();
    }
    auto views = std::make_shared<Views>();
    views->static_dir = static_dir;
    views->users = options.users;
    views->rooms = options.rooms;
    views->throttle = options.throttle;
    std::shared_ptr<Views const> shared = views;

    auto stack = [&](canal::Application app) -> canal::Application {
        return canal::AuthMiddlewareStack(std::move(app), options.sessions, options.users);
    };
    auto http = std::make_shared<canal::URLRouter const>(std::vector<canal::Route>{
        canal::path("login/", stack([shared](canal::Scope s, canal::Receive r, canal::Send x) {
                        return login_view(shared, std::move(s), std::move(r), std::move(x));
                    })),
        canal::path("logout/", stack(&logout_view)),
        canal::path("multichat/", stack([shared](canal::Scope s, canal::Receive r, canal::Send x) {
                        return page_view(shared, std::move(s), std::move(r), std::move(x));
                    })),
        canal::path("multichat/rooms/",
                    stack([shared](canal::Scope s, canal::Receive r, canal::Send x) {
                        return rooms_view(shared, std::move(s), std::move(r), std::move(x));
                    })),
    });
    auto consumer =
        options.style == ConsumerStyle::sync
            ? canal::as_app<SyncMultichatConsumer>(options.rooms, options.notify_enter_leave)
            : canal::as_app<MultichatConsumer>(options.rooms, options.notify_enter_leave);
    auto websocket = std::make_shared<canal::URLRouter const>(std::vector<canal::Route>{
        canal::path("chat/stream/", canal::AllowedHostsOriginValidator(stack(std::move(consumer)),
                                                                       options.allowed_hosts)),
    });
    return [http, websocket,
            fallback = std::move(fallback)](canal::Scope scope, canal::Receive receive,
                                            canal::Send send) -> canal::awaitable<void> {
        if (scope.type == "http" && http->match(scope.path)) {
            return (*http)(std::move(scope), std::move(receive), std::move(send));
        }
        if (scope.type == "websocket" && websocket->match(scope.path)) {
            return (*websocket)(std::move(scope), std::move(receive), std::move(send));
        }
        return fallback(std::move(scope), std::move(receive), std::move(send));
    };
}

// --- canal-chat flags -------------------------------------------------------------------

namespace {

std::string const& flag(std::vector<canal::Settings::Flag> const& flags, std::string_view name) {
    for (auto const& f : flags) {
        if (f.name == name) {
            return f.value;
        }
    }
    static std::string const none;
    return none;
}

std::vector<std::string> split_commas(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        auto const comma = s.find(',');
        auto item = s.substr(0, comma);
        if (!item.empty()) {
            out.emplace_back(item);
        }
        s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    }
    return out;
}

} // namespace

void add_multichat_flags(std::vector<canal::Settings::Flag>& flags) {
    flags.push_back({"users", "multichat: users file (JSON; see `canal-chat createuser`)", ""});
    flags.push_back({"rooms", "multichat: rooms file (JSON list of {id, title, staff_only})", ""});
    flags.push_back({"allowed-hosts",
                     "comma-separated hosts the websockets of both chats may come from "
                     "(empty: localhost, 127.0.0.1, [::1]; *: any)",
                     ""});
    flags.push_back({"sessions",
                     "multichat: where sessions live: memory, or redis://HOST:PORT[/DB] "
                     "(shared by several canal-chat processes)",
                     "memory"});
    flags.push_back({"room-notifications",
                     "multichat: tell room members who enters and leaves "
                     "(on or off)",
                     "on"});
}

std::vector<std::string> allowed_hosts_flag(std::vector<canal::Settings::Flag> const& flags) {
    return split_commas(flag(flags, "allowed-hosts"));
}

canal::Application with_multichat(canal::Application app, std::filesystem::path const& static_dir,
                                  std::vector<canal::Settings::Flag> const& flags,
                                  std::shared_ptr<canal::SessionStore> sessions) {
    auto const& users = flag(flags, "users");
    auto const& rooms = flag(flags, "rooms");
    if (users.empty() && rooms.empty()) {
        return app;
    }
    auto const fail = [](std::string const& why) {
        std::cerr << "canal-chat: " << why << "\n";
        std::exit(2);
    };
    if (users.empty() || rooms.empty()) {
        fail("the multichat needs both --users FILE and --rooms FILE");
    }
    auto const& notify = flag(flags, "room-notifications");
    if (notify != "on" && notify != "off") {
        fail("--room-notifications must be 'on' or 'off', not '" + notify + "'");
    }
    MultichatOptions options;
    try {
        options.users = std::make_shared<canal::JsonFileUserStore>(users);
        options.rooms = std::make_shared<RoomList const>(RoomList::load(rooms));
    } catch (std::exception const& e) {
        fail(e.what());
    }
    options.sessions = std::move(sessions);
    auto const& where = flag(flags, "sessions");
    if (!options.sessions && where != "memory") {
        try {
            auto client = std::make_shared<canal::redis::Client>(canal::redis::Url::parse(where));
            options.sessions = std::make_shared<canal::RedisSessionStore>(std::move(client));
        } catch (std::exception const& e) {
            fail("--sessions must be 'memory' or a redis:// URL: " + std::string(e.what()));
        }
    }
    options.allowed_hosts = allowed_hosts_flag(flags);
    options.notify_enter_leave = notify == "on";
    options.style = flag(flags, "consumer") == "sync" ? ConsumerStyle::sync : ConsumerStyle::async;
    return make_multichat_application(static_dir, std::move(options), std::move(app));
}

// --- createuser -------------------------------------------------------------------------

namespace {

// Reads one line from a terminal without echoing it.
std::optional<std::string> read_hidden(std::istream& in, std::ostream& out, char const* prompt) {
    out << prompt << std::flush;
    termios old{};
    bool const restore = tcgetattr(STDIN_FILENO, &old) == 0;
    if (restore) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    bool const ok = static_cast<bool>(std::getline(in, line));
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
    }
    out << "\n";
    if (!ok) {
        return std::nullopt;
    }
    return line;
}

} // namespace

int createuser_main(std::vector<std::string> const& args, std::istream& in, std::ostream& out,
                    std::ostream& err, bool terminal) {
    auto const usage = "usage: canal-chat createuser --users FILE NAME [--staff]\n"
                       "  reads the password from stdin (prompted without echo on a terminal)\n";
    std::string file;
    std::string name;
    bool staff = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        auto const& a = args[i];
        if (a == "--users" && i + 1 < args.size()) {
            file = args[++i];
        } else if (a.rfind("--users=", 0) == 0) {
            file = a.substr(8);
        } else if (a == "--staff") {
            staff = true;
        } else if (a == "-h" || a == "--help") {
            out << usage;
            return 0;
        } else if (!a.empty() && a[0] != '-' && name.empty()) {
            name = a;
        } else {
            err << "canal-chat createuser: unexpected argument '" << a << "'\n" << usage;
            return 2;
        }
    }
    if (file.empty() || name.empty()) {
        err << usage;
        return 2;
    }
    if (!canal::JsonFileUserStore::is_valid_username(name)) {
        err << "canal-chat createuser: username '" << name
            << "' is not allowed: use 1 to 150 letters, digits and @.+-_\n";
        return 2;
    }
    std::string password;
    if (terminal) {
        auto first = read_hidden(in, out, "Password: ");
        auto second = first ? read_hidden(in, out, "Password (again): ") : std::nullopt;
        if (!first || !second) {
            err << "canal-chat createuser: no password given\n";
            return 1;
        }
        if (*first != *second) {
            err << "canal-chat createuser: the passwords differ\n";
            return 1;
        }
        password = std::move(*first);
    } else if (!std::getline(in, password)) {
        err << "canal-chat createuser: no password on stdin\n";
        return 1;
    }
    if (!password.empty() && password.back() == '\r') {
        password.pop_back();
    }
    try {
        canal::JsonFileUserStore store(file);
        store.create_user(name, password, staff);
    } catch (std::exception const& e) {
        err << "canal-chat createuser: " << e.what() << "\n";
        return 1;
    }
    out << "created " << (staff ? "staff user '" : "user '") << name << "' in " << file << "\n";
    return 0;
}

int createuser_main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return createuser_main(args, std::cin, std::cout, std::cerr, isatty(STDIN_FILENO) == 1);
}

} // namespace chat
