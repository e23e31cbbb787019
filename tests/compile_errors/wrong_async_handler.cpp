// Must not compile: an async consumer's handler that takes its message by value.
#include <canal/consumers/async_websocket_consumer.hpp>

class Chat : public canal::AsyncWebsocketConsumer {
public:
    Chat() { on("chat.message", &Chat::chat_message); }

private:
    canal::awaitable<void> chat_message(canal::Message message);
};
