// The multichat's consumer: one websocket per user, carrying every room joined; async and
// sync styles.
#include "multichat_app.hpp"

#include <canal/sync/async_to_sync.hpp>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <utility>

namespace chat {

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

} // namespace chat
