// chat/consumers.cpp: the room chat consumer, async style, for logged-in users.
#include "chat/consumers.hpp"

#include <canal/middleware/user.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace chat {

ChatConsumer::ChatConsumer() { on("chat.message", &ChatConsumer::chat_message); }

canal::awaitable<void> ChatConsumer::connect() {
    // AuthMiddlewareStack puts the user in the scope: the anonymous user unless logged in
    // (and no user at all without the stack).
    auto const& user = scope().user;
    if (!user || !user->is_authenticated()) {
        throw canal::DenyConnection("log in first"); // HTTP 403
    }
    auto group = "chat_" + scope().url_route.kwargs.at("room_name");
    if (!canal::ChannelLayer::is_valid_group_name(group)) {
        throw canal::DenyConnection("invalid room name"); // HTTP 403
    }
    room_group_name_ = group;
    // Join the room's group.
    co_await channel_layer().group_add(room_group_name_, channel_name());
    co_await accept();
}

canal::awaitable<void> ChatConsumer::disconnect(int /*code*/) {
    // Leave the room's group (disconnect() runs after a refused connect() too).
    if (!room_group_name_.empty()) {
        co_await channel_layer().group_discard(room_group_name_, channel_name());
    }
}

// A message from the websocket: send it to the room's group, signed with the username.
canal::awaitable<void> ChatConsumer::receive(std::string text) {
    auto data = boost::json::parse(text).as_object();
    auto message = scope().user->username + ": " + std::string(data.at("message").as_string());
    canal::Message event{{"type", "chat.message"}, {"message", message}};
    co_await channel_layer().group_send(room_group_name_, std::move(event));
}

// A message from the room's group: send it to the websocket.
canal::awaitable<void> ChatConsumer::chat_message(canal::Message const& event) {
    boost::json::object out{{"message", event.at("message")}};
    co_await send(boost::json::serialize(out));
}

} // namespace chat
