// What both multichat consumer styles share around the store: the room directory, stored
// messages as clients and the layer see them.
#include "multichat_app.hpp"

#include <canal/sync/sync_to_async.hpp>

#include <utility>

namespace chat {

RoomDirectory::RoomDirectory(RoomList rooms)
    : rooms_(std::make_shared<RoomList const>(std::move(rooms))) {}

std::shared_ptr<RoomList const> RoomDirectory::snapshot() const {
    std::lock_guard lock(mutex_);
    return rooms_;
}

void RoomDirectory::replace(RoomList rooms) {
    auto next = std::make_shared<RoomList const>(std::move(rooms));
    std::lock_guard lock(mutex_);
    rooms_ = std::move(next);
}

bool RoomDirectory::add(Room room) {
    std::lock_guard lock(mutex_);
    if (rooms_->find_key(room.key) != nullptr) {
        return false;
    }
    rooms_ = std::make_shared<RoomList const>(rooms_->with(std::move(room)));
    return true;
}

bool RoomDirectory::remove(std::string_view key) {
    std::lock_guard lock(mutex_);
    if (rooms_->find_key(key) == nullptr) {
        return false;
    }
    rooms_ = std::make_shared<RoomList const>(rooms_->without(key));
    return true;
}

boost::json::object stored_message_json(StoredMessage const& message,
                                        boost::json::value const& room_id) {
    boost::json::object out;
    out["msg_type"] = msg_type_message;
    out["room"] = room_id;
    out["id"] = message.id;
    out["username"] = message.author;
    out["message"] = message.text;
    out["time"] = message.time_ms;
    if (message.edited_ms != 0) {
        out["edited"] = message.edited_ms;
    }
    return out;
}

canal::Message stored_message_event(char const* type, StoredMessage const& message,
                                    boost::json::value const& room_id) {
    auto out = stored_message_json(message, room_id);
    out.erase("msg_type");
    out["type"] = type;
    if (std::string_view(type) == "chat.delete") {
        for (char const* gone : {"message", "time", "edited"}) {
            out.erase(gone);
        }
    }
    return canal::Message(std::move(out));
}

std::string change_error(MessageChange::Result result) {
    switch (result) {
    case MessageChange::Result::done:
        return {};
    case MessageChange::Result::deleted:
        return "MESSAGE_DELETED";
    case MessageChange::Result::forbidden:
        return "MESSAGE_ACCESS_DENIED";
    case MessageChange::Result::not_found:
        break;
    }
    return "MESSAGE_NOT_FOUND";
}

boost::json::object room_json(Room const& room) {
    return {{"id", room.id}, {"title", room.title}, {"staff_only", room.staff_only}};
}

boost::json::object join_reply(Room const& room, std::vector<StoredMessage> const* history,
                               std::string_view username) {
    boost::json::object out{{"join", room.id}, {"title", room.title}};
    if (history != nullptr) {
        boost::json::array items;
        items.reserve(history->size());
        for (auto const& m : *history) {
            auto item = stored_message_json(m, room.id);
            if (m.author == username) {
                item["own"] = true;
            }
            items.push_back(std::move(item));
        }
        out["history"] = std::move(items);
    }
    return out;
}

canal::Message room_list_event(char const* type, Room const& room) {
    boost::json::object out{{"type", type}};
    if (std::string_view(type) == "rooms.added") {
        out["room"] = room_json(room);
    } else {
        out["room"] = room.id;
    }
    return canal::Message(std::move(out));
}

void refresh_rooms(MultichatContext const& context) {
    if (!context.store) {
        return;
    }
    auto rooms = attempt("reading the rooms", [&] { return RoomList::from_store(context.store->rooms()); });
    if (rooms) {
        context.rooms->replace(std::move(*rooms));
    }
}

canal::awaitable<void> refresh_rooms_async(std::shared_ptr<MultichatContext const> context) {
    return canal::sync_to_async([context = std::move(context)] { refresh_rooms(*context); });
}

} // namespace chat
