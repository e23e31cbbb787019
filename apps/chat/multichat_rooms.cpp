// The multichat's rooms (the rooms file) and its protocol (commands in, room events out).
#include "multichat_app.hpp"

#include <canal/core/errors.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
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

} // namespace chat
