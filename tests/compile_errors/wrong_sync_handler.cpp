// Must not compile: a sync consumer's handler that takes a JSON object.
#include <canal/consumers/websocket_consumer.hpp>

#include <boost/json/object.hpp>

class Chat : public canal::WebsocketConsumer {
public:
    Chat() { on("chat.message", &Chat::chat_message); }

private:
    void chat_message(boost::json::object const& message);
};
