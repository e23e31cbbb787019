// Must compile: the handlers and the async_to_sync call the three others get wrong.
#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/consumers/websocket_consumer.hpp>
#include <canal/sync/async_to_sync.hpp>

class AsyncChat : public canal::AsyncWebsocketConsumer {
public:
    AsyncChat() {
        on("chat.message", &AsyncChat::chat_message);
        on("chat.other", [](canal::Message const&) -> canal::awaitable<void> { co_return; });
    }

private:
    canal::awaitable<void> chat_message(canal::Message const& message);
};

class SyncChat : public canal::WebsocketConsumer {
public:
    SyncChat() { on("chat.message", &SyncChat::chat_message); }

private:
    void chat_message(canal::Message const& message) {
        canal::async_to_sync([&] { return channel_layer().group_send("room", message); });
    }
};
