// chat/consumers.hpp: the room chat consumer, sync style.
#pragma once

#include <canal/consumers/websocket_consumer.hpp>

#include <string>

namespace chat {

class ChatConsumer : public canal::WebsocketConsumer {
public:
    ChatConsumer();

protected:
    void connect() override;
    void disconnect(int code) override;
    void receive(std::string text) override;
    void chat_message(canal::Message const& event);

private:
    std::string room_group_name_;
};

} // namespace chat
