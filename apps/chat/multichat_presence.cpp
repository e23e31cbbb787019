// Who is in a multichat room: the channel layer's presence as the multichat shows it
// (shared by both consumer styles).
#include "multichat_app.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace chat {

boost::json::object presence_meta(std::string const& username) {
    boost::json::object meta;
    meta["username"] = username;
    return meta;
}

std::vector<std::string> presence_event_texts(canal::Message const& diff,
                                              std::vector<Room> const& joined) {
    std::vector<std::string> out;
    auto const* group = diff.object().if_contains("group");
    if (group == nullptr || !group->is_string()) {
        return out;
    }
    auto const room = std::find_if(joined.begin(), joined.end(),
                                   [&](Room const& r) { return r.group == group->as_string(); });
    if (room == joined.end()) {
        return out; // left meanwhile
    }
    auto texts = [&](char const* field, int msg_type) {
        auto const* entries = diff.object().if_contains(field);
        if (entries == nullptr || !entries->is_object()) {
            return;
        }
        for (auto const& entry : entries->as_object()) {
            auto const* meta = entry.value().if_object();
            auto const* name = meta != nullptr ? meta->if_contains("username") : nullptr;
            if (name == nullptr || !name->is_string()) {
                continue;
            }
            canal::Message event{{"type", msg_type == msg_type_enter ? "chat.join" : "chat.leave"},
                                 {"room", room->id},
                                 {"username", *name}};
            out.push_back(room_event_text(event, msg_type));
        }
    };
    texts("leaves", msg_type_leave);
    texts("joins", msg_type_enter);
    return out;
}

boost::json::object who_reply(boost::json::value const& room_id,
                              std::vector<canal::PresenceEntry> const& members) {
    boost::json::object present;
    for (auto const& m : members) {
        auto const* name = m.meta.if_contains("username");
        if (name == nullptr || !name->is_string()) {
            continue;
        }
        auto& count = present[name->as_string()];
        count = (count.is_int64() ? count.as_int64() : 0) + 1;
    }
    boost::json::object out;
    out["who"] = room_id;
    out["present"] = std::move(present);
    return out;
}

} // namespace chat
