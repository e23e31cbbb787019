// chat/consumers.hpp: the room chat consumer, async style.
#pragma once

#include <canal/consumers/async_websocket_consumer.hpp>

#include <string>

namespace chat {

class ChatConsumer : public canal::AsyncWebsocketConsumer {
public:
    ChatConsumer();

protected:
    canal::awaitable<void> connect() override;
    canal::awaitable<void> disconnect(int code) override;
    canal::awaitable<void> receive(std::string text) override;
    canal::awaitable<void> chat_message(canal::Message const& event);

private:
    std::string room_group_name_;
};

} // namespace chat
