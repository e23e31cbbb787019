// chat/consumers.cpp: the room chat consumer, sync style.
#include "chat/consumers.hpp"

#include <canal/sync/async_to_sync.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace chat {

ChatConsumer::ChatConsumer() { on("chat.message", &ChatConsumer::chat_message); }

void ChatConsumer::connect() {
    auto group = "chat_" + scope().url_route.kwargs.at("room_name");
    if (!canal::ChannelLayer::is_valid_group_name(group)) {
        throw canal::DenyConnection("invalid room name"); // HTTP 403
    }
    room_group_name_ = group;
    // Join the room's group.
    canal::async_to_sync(
        [&] { return channel_layer().group_add(room_group_name_, channel_name()); });
    accept();
}

void ChatConsumer::disconnect(int /*code*/) {
    // Leave the room's group (disconnect() runs after a refused connect() too).
    if (!room_group_name_.empty()) {
        canal::async_to_sync(
            [&] { return channel_layer().group_discard(room_group_name_, channel_name()); });
    }
}

// A message from the websocket: send it to the room's group.
void ChatConsumer::receive(std::string text) {
    auto data = boost::json::parse(text).as_object();
    canal::Message event{{"type", "chat.message"}, {"message", data.at("message")}};
    canal::async_to_sync([&] { return channel_layer().group_send(room_group_name_, event); });
}

// A message from the room's group: send it to the websocket.
void ChatConsumer::chat_message(canal::Message const& event) {
    boost::json::object out{{"message", event.at("message")}};
    send(boost::json::serialize(out));
}

} // namespace chat
