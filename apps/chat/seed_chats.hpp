// The small chats Channels users write first, ported from the documents canal started from,
// each in the style its document uses: the tutorial consumer for a Flutter client, a
// QQ-style group chat of plain text, its first version over a list of connections, and a
// one-room chat with a fixed group.
#pragma once

#include "chat_app.hpp"

#include <canal/consumers/websocket_consumer.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace chat {

/**
 * `/room/<group>/`: a group chat of plain text frames, written with the low-level handlers.
 * websocket_connect accepts and joins the group named by the URL; websocket_receive
 * group_sends the frame as a `call` event and each member sends the text as it is;
 * `exit` closes the sender's connection (it leaves the group first). A group name that is
 * not a valid layer group name is refused with HTTP 403.
 */
class GroupChatConsumer : public canal::WebsocketConsumer {
public:
    GroupChatConsumer();

protected:
    void websocket_connect(canal::WebsocketConnect const& message) override;
    void websocket_receive(canal::WebsocketReceive message) override;
    void websocket_disconnect(canal::WebsocketDisconnect const& message) override;
    void call(canal::Message const& event);

private:
    std::string group_;
};

/**
 * `/room/`: the same chat's first version, without groups: the process keeps a list of its
 * connections and each text frame goes to every one of them as `TEXT...`. A connection is
 * reached through its channel (each consumer runs on its own strand or pool thread, so
 * "sending to a connection" is a channel-layer send to its channel name). A member whose
 * channel is full misses the message, with a log line naming it. One process only: across
 * processes use groups (`/room/<group>/`).
 */
class ConnectionListConsumer : public canal::WebsocketConsumer {
public:
    ConnectionListConsumer();

protected:
    void websocket_connect(canal::WebsocketConnect const& message) override;
    void websocket_receive(canal::WebsocketReceive message) override;
    void websocket_disconnect(canal::WebsocketDisconnect const& message) override;
    void relay(canal::Message const& event);
};

/** The fixed group of the one-room chat and the prefix it puts before each message. */
inline constexpr char const* one_room_group = "ops_coffee";
inline constexpr char const* one_room_prefix = "\xe8\xbf\x90\xe7\xbb\xb4\xef\xbc\x9a"; // "运维："

/**
 * `/ws/chat/` (page `/chat`): one room for everyone (group `ops_coffee`), sync style.
 * `{"message": TEXT}` is group_sent; each member sends `{"message": "运维：TEXT"}`.
 * Anything else gets `{"error": ...}` back.
 */
class OneRoomChatConsumer : public canal::JsonWebsocketConsumer {
public:
    OneRoomChatConsumer();

protected:
    void connect() override;
    void disconnect(int code) override;
    void receive_json(boost::json::value content) override;
    void chat_message(canal::Message const& event);
};

/** The same one-room chat, async style (the document's second version). */
class AsyncOneRoomChatConsumer : public canal::AsyncJsonWebsocketConsumer {
public:
    AsyncOneRoomChatConsumer();

protected:
    canal::awaitable<void> connect() override;
    canal::awaitable<void> disconnect(int code) override;
    canal::awaitable<void> receive_json(boost::json::value content) override;
    canal::awaitable<void> chat_message(canal::Message const& event);
};

/**
 * `app` with the seeds' chats in front of it:
 * - websocket `/channels/<room_name>/`: the tutorial ChatConsumer (SyncChatConsumer with
 *   ConsumerStyle::sync), the route of the Flutter client's server. Not behind the origin
 *   check: a native client sends no `Origin`.
 * - websocket `/room/<group>/` (GroupChatConsumer) and `/room/` (ConnectionListConsumer);
 * - websocket `/ws/chat/` (OneRoomChatConsumer or AsyncOneRoomChatConsumer, per `style`)
 *   and its page, http `/chat` (`one_room.html` in `static_dir`).
 * The websocket routes other than `/channels/` are behind AllowedHostsOriginValidator
 * with `allowed_hosts`, as the tutorial's are. Everything else goes to `app`.
 */
canal::Application with_seed_chats(canal::Application app, std::filesystem::path const& static_dir,
                                   ConsumerStyle style, std::vector<std::string> allowed_hosts);

} // namespace chat
