// The multichat's consumer: one websocket per user, carrying every room joined; async and
// sync styles. The store's calls block: the async style runs them with sync_to_async, the
// sync style calls them from its handlers (already on the handler pool).
#include "multichat_app.hpp"

#include <canal/sync/async_to_sync.hpp>
#include <canal/sync/sync_to_async.hpp>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <utility>

namespace chat {

namespace {

std::shared_ptr<MultichatContext const> fixed_context(std::shared_ptr<RoomList const> rooms,
                                                      bool notify) {
    auto context = std::make_shared<MultichatContext>();
    context->rooms = std::make_shared<RoomDirectory>(rooms ? *rooms : RoomList{});
    context->notify_enter_leave = notify;
    return context;
}

canal::Message plain_message_event(Room const& room, std::string const& username,
                                   std::string const& text) {
    return canal::Message{{"type", "chat.message"},
                          {"room", room.id},
                          {"username", username},
                          {"message", text}};
}

StoredRoom stored_room(Room const& room) {
    return {boost::json::serialize(room.id), room.key, room.title, room.staff_only};
}

/** Own messages (by username: the user's other tabs too) are marked, with a store. */
bool is_own(MultichatContext const& context, canal::Message const& event, int msg_type,
            std::string const& username) {
    if (!context.store || (msg_type != msg_type_message && msg_type != msg_type_edit)) {
        return false;
    }
    auto const* author = event.at("username").if_string();
    return author != nullptr && *author == username;
}

std::string room_added_text(canal::Message const& event) {
    boost::json::object out{{"room_added", event.at("room")}};
    return boost::json::serialize(out);
}

std::string room_removed_text(canal::Message const& event) {
    boost::json::object out{{"room_removed", event.at("room")}};
    return boost::json::serialize(out);
}

/**
 * A `rooms.removed` event: the room leaves the directory and `joined`; returns its group when
 * the user was in it (to discard the connection from).
 */
std::optional<std::string> forget_room(MultichatContext const& context, std::vector<Room>& joined,
                                       canal::Message const& event) {
    auto const key = room_key(event.at("room"));
    if (!key) {
        return std::nullopt;
    }
    context.rooms->remove(*key);
    auto const found =
        std::find_if(joined.begin(), joined.end(), [&](Room const& r) { return r.key == *key; });
    if (found == joined.end()) {
        return std::nullopt;
    }
    auto group = found->group;
    joined.erase(found);
    return group;
}

/** The room a `rooms.added` event describes, or nothing (logged) if it is not one. */
std::optional<Room> added_room(canal::Message const& event) {
    return attempt("reading a rooms.added event", [&] {
        auto const& r = event.at("room").as_object();
        return RoomList::make_room(r.at("id"), std::string(r.at("title").as_string()),
                                   r.at("staff_only").as_bool());
    });
}


// Non-coroutine fronts: each callable is built here, outside any coroutine frame (g++ 12
// miscompiles lambdas built inside a co_await operand; docs/consumers.md).

canal::awaitable<std::optional<std::vector<StoredMessage>>>
history_async(std::shared_ptr<ChatStore> store, std::string room, std::size_t limit) {
    return canal::sync_to_async([store = std::move(store), room = std::move(room), limit] {
        return attempt("reading a room's history", [&] { return store->history(room, limit); });
    });
}

canal::awaitable<std::optional<StoredMessage>> add_async(std::shared_ptr<ChatStore> store,
                                                         std::string room, std::string author,
                                                         std::string text) {
    return canal::sync_to_async([store = std::move(store), room = std::move(room),
                                 author = std::move(author), text = std::move(text)] {
        return attempt("storing a message", [&] { return store->add(room, author, text); });
    });
}

canal::awaitable<std::optional<MessageChange>>
change_async(std::shared_ptr<ChatStore> store, MultichatCommand const& command,
             std::string editor, bool staff) {
    bool const edit = command.kind == MultichatCommand::Kind::edit;
    return canal::sync_to_async([store = std::move(store), edit, id = command.id,
                                 room = command.room->key, editor = std::move(editor), staff,
                                 text = command.message] {
        return attempt(edit ? "editing a message" : "deleting a message", [&] {
            return edit ? store->edit(id, room, editor, staff, text)
                        : store->remove(id, room, editor, staff);
        });
    });
}

canal::awaitable<std::optional<bool>> change_room_async(std::shared_ptr<ChatStore> store,
                                                        Room const& room, bool create) {
    return canal::sync_to_async([store = std::move(store), row = stored_room(room), create] {
        return attempt(create ? "creating a room" : "removing a room", [&] {
            return create ? store->create_room(row) : store->remove_room(row.key);
        });
    });
}

/** Why a room change is refused before it is tried, or nothing. */
std::optional<std::string> room_change_refusal(MultichatContext const& context,
                                               canal::User const& user) {
    if (!context.store) {
        return "NO_STORAGE";
    }
    if (!user.is_staff) {
        return "ROOM_ACCESS_DENIED";
    }
    return std::nullopt;
}

/** The error for a room change the store did not do (`done`: what it answered, if it did). */
std::string room_change_error(std::optional<bool> done, bool create) {
    return !done ? "STORAGE_FAILED" : create ? "ROOM_EXISTS" : "ROOM_INVALID";
}

/** The directory after a room change done, and the event that tells everyone. */
canal::Message room_changed(MultichatContext const& context, Room const& room, bool create) {
    if (create) {
        context.rooms->add(room);
    } else {
        context.rooms->remove(room.key);
    }
    return room_list_event(create ? "rooms.added" : "rooms.removed", room);
}

} // namespace

// --- the consumer -----------------------------------------------------------------------

MultichatConsumer::MultichatConsumer(std::shared_ptr<RoomList const> rooms, bool notify_enter_leave)
    : MultichatConsumer(fixed_context(std::move(rooms), notify_enter_leave)) {}

MultichatConsumer::MultichatConsumer(std::shared_ptr<MultichatContext const> context)
    : context_(std::move(context)) {
    handle_events();
}

void MultichatConsumer::handle_events() {
    on("chat.message", &MultichatConsumer::chat_message);
    on("chat.join", &MultichatConsumer::chat_join);
    on("chat.leave", &MultichatConsumer::chat_leave);
    on("chat.edit", &MultichatConsumer::chat_edit);
    on("chat.delete", &MultichatConsumer::chat_delete);
    on("rooms.added", &MultichatConsumer::rooms_added);
    on("rooms.removed", &MultichatConsumer::rooms_removed);
    on("presence.diff", &MultichatConsumer::presence_diff);
}

canal::awaitable<void> MultichatConsumer::connect() {
    auto const& user = scope().user;
    if (!user || !user->is_authenticated()) {
        // Refused before accept: the client gets HTTP 403.
        co_await close();
        co_return;
    }
    if (context_->store) {
        // Rooms made by another process (or canal-chat createroom) since the last look.
        co_await refresh_rooms_async(context_);
    }
    co_await accept();
    if (context_->store) {
        co_await channel_layer().group_add(rooms_group, channel_name());
    }
}

canal::awaitable<void> MultichatConsumer::disconnect(int /*code*/) {
    // Leave every room, last joined first; leave_room() edits joined_, so work on a copy.
    auto const rooms = joined_;
    for (auto it = rooms.rbegin(); it != rooms.rend(); ++it) {
        co_await leave_room(*it, false);
    }
    if (context_->store) {
        co_await channel_layer().group_discard(rooms_group, channel_name());
    }
}

canal::awaitable<void> MultichatConsumer::receive_json(boost::json::value content) {
    auto const rooms = context_->rooms->snapshot(); // keeps command.room alive
    auto command = parse_command(*rooms, content);
    switch (command.kind) {
    case MultichatCommand::Kind::join:
        co_await join_room(*command.room);
        break;
    case MultichatCommand::Kind::leave:
        co_await leave_room(*command.room, true);
        break;
    case MultichatCommand::Kind::who:
        co_await who(*command.room);
        break;
    case MultichatCommand::Kind::send:
        co_await send_to_room(*command.room, std::move(command.message));
        break;
    case MultichatCommand::Kind::edit:
    case MultichatCommand::Kind::remove:
        co_await change_message(command);
        break;
    case MultichatCommand::Kind::create_room:
        co_await change_room(*command.new_room, true);
        break;
    case MultichatCommand::Kind::remove_room:
        co_await change_room(*command.room, false);
        break;
    case MultichatCommand::Kind::invalid:
        co_await send_error(std::move(command.error));
        break;
    }
}

bool MultichatConsumer::joined(std::string_view key) const noexcept {
    return std::any_of(joined_.begin(), joined_.end(), [&](Room const& r) { return r.key == key; });
}

canal::awaitable<void> MultichatConsumer::join_room(Room const& room) {
    auto const& user = *scope().user;
    if (room.staff_only && !user.is_staff) {
        co_await send_error("ROOM_ACCESS_DENIED");
        co_return;
    }
    std::optional<std::vector<StoredMessage>> history;
    if (context_->store && context_->history > 0) {
        history = co_await history_async(context_->store, room.key, context_->history);
        if (!history) {
            co_await send_error("STORAGE_FAILED");
            co_return;
        }
    }
    if (!joined(room.key)) {
        // Before joining: the members hear of it, the user who enters does not. A layer with
        // presence tells them (a process that crashes is then seen leaving too).
        if (channel_layer().has_presence()) {
            auto meta = presence_meta(user.username);
            co_await channel_layer().presence_track(room.group, channel_name(), std::move(meta));
        } else if (context_->notify_enter_leave) {
            canal::Message event{
                {"type", "chat.join"}, {"room", room.id}, {"username", user.username}};
            co_await channel_layer().group_send(room.group, std::move(event));
        }
        co_await channel_layer().group_add(room.group, channel_name());
        joined_.push_back(room);
    }
    auto reply = join_reply(room, history ? &*history : nullptr, user.username);
    co_await send_json(std::move(reply));
}

canal::awaitable<void> MultichatConsumer::leave_room(Room const& room, bool reply) {
    if (joined(room.key)) {
        std::erase_if(joined_, [&](Room const& r) { return r.key == room.key; });
        co_await channel_layer().group_discard(room.group, channel_name());
        // After leaving: the user who leaves does not hear of it.
        if (channel_layer().has_presence()) {
            co_await channel_layer().presence_untrack(room.group, channel_name());
        } else if (context_->notify_enter_leave) {
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

canal::awaitable<void> MultichatConsumer::who(Room const& room) {
    if (!joined(room.key)) {
        co_await send_error("ROOM_ACCESS_DENIED");
        co_return;
    }
    std::vector<canal::PresenceEntry> members;
    if (channel_layer().has_presence()) {
        members = co_await channel_layer().group_members(room.group);
    }
    auto reply = who_reply(room.id, members);
    co_await send_json(std::move(reply));
}

canal::awaitable<void> MultichatConsumer::presence_diff(canal::Message const& event) {
    if (!context_->notify_enter_leave) {
        co_return;
    }
    auto texts = presence_event_texts(event, joined_);
    for (auto& text : texts) {
        co_await send(std::move(text));
    }
}

canal::awaitable<void> MultichatConsumer::send_to_room(Room const& room, std::string text) {
    if (!joined(room.key)) {
        co_await send_error("ROOM_ACCESS_DENIED");
        co_return;
    }
    auto const& username = scope().user->username;
    if (!context_->store) {
        co_await channel_layer().group_send(room.group,
                                            plain_message_event(room, username, text));
        co_return;
    }
    // Stored first: what members see has an id, and a message the database refused is
    // answered with an error instead of vanishing from the history.
    auto stored = co_await add_async(context_->store, room.key, username, std::move(text));
    if (!stored) {
        co_await send_error("STORAGE_FAILED");
        co_return;
    }
    co_await channel_layer().group_send(room.group,
                                        stored_message_event("chat.message", *stored, room.id));
}

canal::awaitable<void> MultichatConsumer::change_message(MultichatCommand const& command) {
    auto const& room = *command.room;
    if (!context_->store) {
        co_await send_error("NO_STORAGE");
        co_return;
    }
    if (!joined(room.key)) {
        co_await send_error("ROOM_ACCESS_DENIED");
        co_return;
    }
    bool const edit = command.kind == MultichatCommand::Kind::edit;
    auto change = co_await change_async(context_->store, command, scope().user->username,
                                        scope().user->is_staff);
    if (!change) {
        co_await send_error("STORAGE_FAILED");
        co_return;
    }
    if (change->result != MessageChange::Result::done) {
        co_await send_error(change_error(change->result));
        co_return;
    }
    auto event = stored_message_event(edit ? "chat.edit" : "chat.delete", change->message, room.id);
    co_await channel_layer().group_send(room.group, std::move(event));
}

canal::awaitable<void> MultichatConsumer::change_room(Room const& room, bool create) {
    if (auto refusal = room_change_refusal(*context_, *scope().user)) {
        co_await send_error(std::move(*refusal));
        co_return;
    }
    auto done = co_await change_room_async(context_->store, room, create);
    if (!done || !*done) {
        co_await send_error(room_change_error(done, create));
        co_return;
    }
    // Everyone connected hears of it, this user too: that is the reply.
    auto event = room_changed(*context_, room, create);
    co_await channel_layer().group_send(rooms_group, std::move(event));
}

canal::awaitable<void> MultichatConsumer::send_error(std::string code) {
    boost::json::object out{{"error", code}};
    co_await send_json(std::move(out));
}

canal::awaitable<void> MultichatConsumer::forward(canal::Message const& event, int msg_type) {
    if (is_own(*context_, event, msg_type, scope().user->username)) {
        co_await send(room_event_text(event, msg_type, true));
        co_return;
    }
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

canal::awaitable<void> MultichatConsumer::chat_edit(canal::Message const& event) {
    co_await forward(event, msg_type_edit);
}

canal::awaitable<void> MultichatConsumer::chat_delete(canal::Message const& event) {
    co_await forward(event, msg_type_delete);
}

canal::awaitable<void> MultichatConsumer::rooms_added(canal::Message const& event) {
    if (auto room = added_room(event)) {
        context_->rooms->add(std::move(*room)); // the other processes' directories
    }
    co_await send(event.shared_text("multichat.out", [&] { return room_added_text(event); }));
}

canal::awaitable<void> MultichatConsumer::rooms_removed(canal::Message const& event) {
    auto const group = forget_room(*context_, joined_, event);
    if (group) {
        co_await channel_layer().group_discard(*group, channel_name());
        if (channel_layer().has_presence()) {
            co_await channel_layer().presence_untrack(*group, channel_name());
        }
    }
    co_await send(event.shared_text("multichat.out", [&] { return room_removed_text(event); }));
}

// --- the same consumer, sync style ------------------------------------------------------

SyncMultichatConsumer::SyncMultichatConsumer(std::shared_ptr<RoomList const> rooms,
                                             bool notify_enter_leave)
    : SyncMultichatConsumer(fixed_context(std::move(rooms), notify_enter_leave)) {}

SyncMultichatConsumer::SyncMultichatConsumer(std::shared_ptr<MultichatContext const> context)
    : context_(std::move(context)) {
    handle_events();
}

void SyncMultichatConsumer::handle_events() {
    on("chat.message", &SyncMultichatConsumer::chat_message);
    on("chat.join", &SyncMultichatConsumer::chat_join);
    on("chat.leave", &SyncMultichatConsumer::chat_leave);
    on("chat.edit", &SyncMultichatConsumer::chat_edit);
    on("chat.delete", &SyncMultichatConsumer::chat_delete);
    on("rooms.added", &SyncMultichatConsumer::rooms_added);
    on("rooms.removed", &SyncMultichatConsumer::rooms_removed);
    on("presence.diff", &SyncMultichatConsumer::presence_diff);
}

void SyncMultichatConsumer::connect() {
    auto const& user = scope().user;
    if (!user || !user->is_authenticated()) {
        close(); // before accept: HTTP 403
        return;
    }
    refresh_rooms(*context_);
    accept();
    if (context_->store) {
        canal::async_to_sync([&] { return channel_layer().group_add(rooms_group, channel_name()); });
    }
}

void SyncMultichatConsumer::disconnect(int /*code*/) {
    auto const rooms = joined_;
    for (auto it = rooms.rbegin(); it != rooms.rend(); ++it) {
        leave_room(*it, false);
    }
    if (context_->store) {
        canal::async_to_sync(
            [&] { return channel_layer().group_discard(rooms_group, channel_name()); });
    }
}

void SyncMultichatConsumer::receive_json(boost::json::value content) {
    auto const rooms = context_->rooms->snapshot();
    auto const command = parse_command(*rooms, content);
    switch (command.kind) {
    case MultichatCommand::Kind::join:
        join_room(*command.room);
        break;
    case MultichatCommand::Kind::leave:
        leave_room(*command.room, true);
        break;
    case MultichatCommand::Kind::who:
        who(*command.room);
        break;
    case MultichatCommand::Kind::send:
        send_to_room(*command.room, command.message);
        break;
    case MultichatCommand::Kind::edit:
    case MultichatCommand::Kind::remove:
        change_message(command);
        break;
    case MultichatCommand::Kind::create_room:
        change_room(*command.new_room, true);
        break;
    case MultichatCommand::Kind::remove_room:
        change_room(*command.room, false);
        break;
    case MultichatCommand::Kind::invalid:
        send_error(command.error);
        break;
    }
}

bool SyncMultichatConsumer::joined(std::string_view key) const noexcept {
    return std::any_of(joined_.begin(), joined_.end(), [&](Room const& r) { return r.key == key; });
}

void SyncMultichatConsumer::join_room(Room const& room) {
    auto const& user = *scope().user;
    if (room.staff_only && !user.is_staff) {
        send_error("ROOM_ACCESS_DENIED");
        return;
    }
    std::optional<std::vector<StoredMessage>> history;
    if (context_->store && context_->history > 0) {
        history = attempt("reading a room's history",
                          [&] { return context_->store->history(room.key, context_->history); });
        if (!history) {
            send_error("STORAGE_FAILED");
            return;
        }
    }
    if (!joined(room.key)) {
        if (channel_layer().has_presence()) {
            auto const meta = presence_meta(user.username);
            canal::async_to_sync([&] {
                return channel_layer().presence_track(room.group, channel_name(), meta);
            });
        } else if (context_->notify_enter_leave) {
            canal::Message event{
                {"type", "chat.join"}, {"room", room.id}, {"username", user.username}};
            canal::async_to_sync([&] { return channel_layer().group_send(room.group, event); });
        }
        canal::async_to_sync([&] { return channel_layer().group_add(room.group, channel_name()); });
        joined_.push_back(room);
    }
    send_json(join_reply(room, history ? &*history : nullptr, user.username));
}

void SyncMultichatConsumer::leave_room(Room const& room, bool reply) {
    if (joined(room.key)) {
        std::erase_if(joined_, [&](Room const& r) { return r.key == room.key; });
        canal::async_to_sync(
            [&] { return channel_layer().group_discard(room.group, channel_name()); });
        if (channel_layer().has_presence()) {
            canal::async_to_sync(
                [&] { return channel_layer().presence_untrack(room.group, channel_name()); });
        } else if (context_->notify_enter_leave) {
            canal::Message event{
                {"type", "chat.leave"}, {"room", room.id}, {"username", scope().user->username}};
            canal::async_to_sync([&] { return channel_layer().group_send(room.group, event); });
        }
    }
    if (reply) {
        send_json(boost::json::object{{"leave", room.id}});
    }
}

void SyncMultichatConsumer::who(Room const& room) {
    if (!joined(room.key)) {
        send_error("ROOM_ACCESS_DENIED");
        return;
    }
    std::vector<canal::PresenceEntry> members;
    if (channel_layer().has_presence()) {
        members = canal::async_to_sync([&] { return channel_layer().group_members(room.group); });
    }
    send_json(who_reply(room.id, members));
}

void SyncMultichatConsumer::presence_diff(canal::Message const& event) {
    if (!context_->notify_enter_leave) {
        return;
    }
    for (auto& text : presence_event_texts(event, joined_)) {
        send(std::move(text));
    }
}

void SyncMultichatConsumer::send_to_room(Room const& room, std::string const& text) {
    if (!joined(room.key)) {
        send_error("ROOM_ACCESS_DENIED");
        return;
    }
    auto const& username = scope().user->username;
    canal::Message event;
    if (context_->store) {
        auto stored = attempt("storing a message",
                              [&] { return context_->store->add(room.key, username, text); });
        if (!stored) {
            send_error("STORAGE_FAILED");
            return;
        }
        event = stored_message_event("chat.message", *stored, room.id);
    } else {
        event = plain_message_event(room, username, text);
    }
    canal::async_to_sync([&] { return channel_layer().group_send(room.group, event); });
}

void SyncMultichatConsumer::change_message(MultichatCommand const& command) {
    auto const& room = *command.room;
    if (!context_->store) {
        send_error("NO_STORAGE");
        return;
    }
    if (!joined(room.key)) {
        send_error("ROOM_ACCESS_DENIED");
        return;
    }
    bool const edit = command.kind == MultichatCommand::Kind::edit;
    auto const& user = *scope().user;
    auto change = attempt(edit ? "editing a message" : "deleting a message", [&] {
        return edit ? context_->store->edit(command.id, room.key, user.username, user.is_staff,
                                            command.message)
                    : context_->store->remove(command.id, room.key, user.username, user.is_staff);
    });
    if (!change) {
        send_error("STORAGE_FAILED");
        return;
    }
    if (change->result != MessageChange::Result::done) {
        send_error(change_error(change->result));
        return;
    }
    auto event = stored_message_event(edit ? "chat.edit" : "chat.delete", change->message, room.id);
    canal::async_to_sync([&] { return channel_layer().group_send(room.group, event); });
}

void SyncMultichatConsumer::change_room(Room const& room, bool create) {
    if (auto refusal = room_change_refusal(*context_, *scope().user)) {
        send_error(*refusal);
        return;
    }
    auto done = attempt(create ? "creating a room" : "removing a room", [&] {
        return create ? context_->store->create_room(stored_room(room))
                      : context_->store->remove_room(room.key);
    });
    if (!done || !*done) {
        send_error(room_change_error(done, create));
        return;
    }
    auto event = room_changed(*context_, room, create);
    canal::async_to_sync([&] { return channel_layer().group_send(rooms_group, event); });
}

void SyncMultichatConsumer::send_error(std::string const& code) {
    send_json(boost::json::object{{"error", code}});
}

void SyncMultichatConsumer::forward(canal::Message const& event, int msg_type) {
    if (is_own(*context_, event, msg_type, scope().user->username)) {
        send(room_event_text(event, msg_type, true));
        return;
    }
    send(event.shared_text("multichat.out", [&] { return room_event_text(event, msg_type); }));
}

void SyncMultichatConsumer::chat_message(canal::Message const& event) {
    forward(event, msg_type_message);
}

void SyncMultichatConsumer::chat_join(canal::Message const& event) {
    forward(event, msg_type_enter);
}

void SyncMultichatConsumer::chat_leave(canal::Message const& event) {
    forward(event, msg_type_leave);
}

void SyncMultichatConsumer::chat_edit(canal::Message const& event) {
    forward(event, msg_type_edit);
}

void SyncMultichatConsumer::chat_delete(canal::Message const& event) {
    forward(event, msg_type_delete);
}

void SyncMultichatConsumer::rooms_added(canal::Message const& event) {
    if (auto room = added_room(event)) {
        context_->rooms->add(std::move(*room));
    }
    send(event.shared_text("multichat.out", [&] { return room_added_text(event); }));
}

void SyncMultichatConsumer::rooms_removed(canal::Message const& event) {
    auto const group = forget_room(*context_, joined_, event);
    if (group) {
        canal::async_to_sync([&] { return channel_layer().group_discard(*group, channel_name()); });
        if (channel_layer().has_presence()) {
            canal::async_to_sync(
                [&] { return channel_layer().presence_untrack(*group, channel_name()); });
        }
    }
    send(event.shared_text("multichat.out", [&] { return room_removed_text(event); }));
}

} // namespace chat
