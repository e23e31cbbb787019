// The multichat's rooms (the rooms file) and its protocol (commands in, room events out).
#include "multichat_app.hpp"

#include <canal/core/errors.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fstream>
#include <initializer_list>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace chat {

// --- rooms ------------------------------------------------------------------------------

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

Room RoomList::make_room(boost::json::value const& id, std::string title, bool staff_only) {
    auto const key = room_key(id);
    if (!key) {
        throw std::invalid_argument("a room id is a number or a string, not " +
                                    boost::json::serialize(id));
    }
    Room room;
    room.id = id;
    room.key = *key;
    room.title = std::move(title);
    room.staff_only = staff_only;
    room.group = "room-" + room.key;
    if (!canal::ChannelLayer::is_valid_group_name(room.group)) {
        throw std::invalid_argument("room id '" + room.key +
                                    "' is not allowed: use ASCII letters, digits, '-', "
                                    "'_' and '.', under 95 characters");
    }
    return room;
}

void RoomList::push(Room room) {
    by_key_.emplace(room.key, rooms_.size());
    rooms_.push_back(std::move(room));
}

RoomList RoomList::with(Room room) const {
    RoomList out = without(room.key);
    out.push(std::move(room));
    return out;
}

RoomList RoomList::without(std::string_view key) const {
    RoomList out;
    for (auto const& room : rooms_) {
        if (room.key != key) {
            out.push(room);
        }
    }
    return out;
}

RoomList RoomList::from_store(std::vector<StoredRoom> const& rooms) {
    RoomList out;
    for (auto const& stored : rooms) {
        boost::system::error_code ec;
        auto id = boost::json::parse(stored.id_json, ec);
        if (ec) {
            throw std::invalid_argument("a stored room id is not JSON: " + stored.id_json);
        }
        out = out.with(make_room(id, stored.title, stored.staff_only));
    }
    return out;
}

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
        auto room = make_room(*id, std::string(title->as_string()),
                              staff != nullptr && staff->as_bool());
        if (out.by_key_.contains(room.key)) {
            throw std::invalid_argument("room id '" + room.key + "' appears twice");
        }
        out.push(std::move(room));
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
    return key ? find_key(*key) : nullptr;
}

Room const* RoomList::find_key(std::string_view key) const {
    auto found = by_key_.find(key);
    return found == by_key_.end() ? nullptr : &rooms_[found->second];
}

// --- shared by both consumer styles -----------------------------------------------------

namespace {

using Kind = MultichatCommand::Kind;

std::optional<Kind> command_kind(boost::json::string const& name) {
    static std::pair<char const*, Kind> const names[] = {
        {"join", Kind::join},     {"leave", Kind::leave},
        {"send", Kind::send},     {"edit", Kind::edit},
        {"delete", Kind::remove}, {"create_room", Kind::create_room},
        {"remove_room", Kind::remove_room}, {"who", Kind::who},
    };
    for (auto const& [text, kind] : names) {
        if (name == text) {
            return kind;
        }
    }
    return std::nullopt;
}

std::optional<std::string> string_field(boost::json::object const& obj, char const* name) {
    auto const* v = obj.if_contains(name);
    return v != nullptr && v->is_string() ? std::optional<std::string>(v->as_string())
                                          : std::nullopt;
}

} // namespace

MultichatCommand parse_command(RoomList const& rooms, boost::json::value const& content) {
    MultichatCommand out;
    out.error = "COMMAND_INVALID";
    auto const* obj = content.if_object();
    auto const* command = obj != nullptr ? obj->if_contains("command") : nullptr;
    auto const kind = command != nullptr && command->is_string()
                          ? command_kind(command->as_string())
                          : std::nullopt;
    if (!kind) {
        return out;
    }
    auto const* id = obj->if_contains("room");
    if (*kind == Kind::create_room) {
        auto title = string_field(*obj, "title");
        auto const* staff = obj->if_contains("staff_only");
        if (id == nullptr || !title || title->empty() || (staff != nullptr && !staff->is_bool())) {
            return out;
        }
        if (rooms.find(*id) != nullptr) {
            out.error = "ROOM_EXISTS";
            return out;
        }
        try {
            out.new_room = RoomList::make_room(*id, std::move(*title),
                                               staff != nullptr && staff->as_bool());
        } catch (std::invalid_argument const&) {
            out.error = "ROOM_INVALID";
            return out;
        }
        out.kind = *kind;
        out.error.clear();
        return out;
    }
    out.room = id != nullptr ? rooms.find(*id) : nullptr;
    if (out.room == nullptr) {
        out.error = "ROOM_INVALID";
        return out;
    }
    if (*kind == Kind::edit || *kind == Kind::remove) {
        auto const* message_id = obj->if_contains("id");
        if (message_id == nullptr || !message_id->is_int64() || message_id->as_int64() < 1) {
            out.room = nullptr;
            return out;
        }
        out.id = message_id->as_int64();
    }
    if (*kind == Kind::send || *kind == Kind::edit) {
        auto text = string_field(*obj, "message");
        if (!text) {
            out.room = nullptr;
            return out;
        }
        out.message = std::move(*text);
    }
    out.kind = *kind;
    out.error.clear();
    return out;
}

std::string room_event_text(canal::Message const& event, int msg_type, bool own) {
    boost::json::object out;
    out["msg_type"] = msg_type;
    out["room"] = event.at("room");
    if (auto const* id = event.object().if_contains("id")) {
        out["id"] = *id;
    }
    out["username"] = event.at("username");
    switch (msg_type) {
    case msg_type_message:
    case msg_type_edit:
        out["message"] = event.at("message");
        break;
    case msg_type_delete:
        break;
    default:
        out["message"] = msg_type == msg_type_enter ? "joined the room" : "left the room";
    }
    for (char const* field : {"time", "edited"}) {
        if (auto const* v = event.object().if_contains(field)) {
            out[field] = *v;
        }
    }
    if (own) {
        out["own"] = true;
    }
    return boost::json::serialize(out);
}

} // namespace chat
