// The Channels tutorial room chat on canal: the consumer and the application that routes to it.
#pragma once

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/consumers/websocket_consumer.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace chat {

/** The group of a room (`chat_<room>`); throws DenyConnection when that is not a valid name. */
std::string group_for_room(std::string const& room);

/**
 * The tutorial's ChatConsumer, async style. Joins group `chat_<room_name>`; each
 * `{"message": VALUE}` from a client is group_sent as a `chat.message` event, and each
 * member sends `{"message": VALUE}` to its client. As in Channels, VALUE is any JSON value
 * (the tutorial's page sends a string, the Flutter client an object) and is relayed as it
 * is; a frame without `message` gets `{"error": ...}` back. The text sent to the members is
 * serialized once per group message, not once per member.
 */
class ChatConsumer : public canal::AsyncJsonWebsocketConsumer {
public:
    ChatConsumer();

protected:
    canal::awaitable<void> connect() override;
    canal::awaitable<void> disconnect(int code) override;
    canal::awaitable<void> receive_json(boost::json::value content) override;
    canal::awaitable<void> chat_message(canal::Message const& event);

private:
    std::string group_;
};

/**
 * The same consumer in the sync style (the tutorial's part 2): blocking handlers on the
 * handler pool, the channel layer reached through async_to_sync. Same protocol.
 */
class SyncChatConsumer : public canal::JsonWebsocketConsumer {
public:
    SyncChatConsumer();

protected:
    void connect() override;
    void disconnect(int code) override;
    void receive_json(boost::json::value content) override;
    void chat_message(canal::Message const& event);

private:
    std::string group_;
};

/** Which consumer style serves the chat websocket. */
enum class ConsumerStyle { async, sync };

/**
 * The chat application: `/chat/` (lobby page), `/chat/<room>/` (room page),
 * `/chat/<room>/events` (the room as server-sent events, POST to send), `/static/...`
 * from `static_dir`, the websocket route `/ws/chat/<room_name>/` and, for the benchmarks,
 * `/ws/echo/` (EchoConsumer or SyncEchoConsumer, per `style`). As in the Channels
 * tutorial, the websocket routes are behind AllowedHostsOriginValidator: a websocket whose
 * `Origin` is not one of `allowed_hosts` (empty: localhost, 127.0.0.1, [::1]; `*`: any,
 * even none) is refused with HTTP 403. `moderated`: the room chat's consumers are the
 * moderated ones (moderation.hpp), which also send each message to the `chat-moderation`
 * worker and relay its verdicts.
 */
canal::Application make_application(std::filesystem::path const& static_dir,
                                    ConsumerStyle style = ConsumerStyle::async,
                                    std::vector<std::string> allowed_hosts = {},
                                    bool moderated = false);

} // namespace chat
