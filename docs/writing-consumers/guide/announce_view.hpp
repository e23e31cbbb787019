// AnnounceView and NewsConsumer: an HTTP POST reaches every websocket of a group.
#pragma once

#include <canal/consumers/async_http_consumer.hpp>
#include <canal/consumers/async_websocket_consumer.hpp>

#include <string>

// POST /announce/ with a text body: sends it to the group "news". Answers 202.
class AnnounceView : public canal::AsyncHttpConsumer {
protected:
    canal::awaitable<void> handle(std::string body) override;
};

// A member of the group "news": forwards each announcement to its client as JSON.
class NewsConsumer : public canal::AsyncWebsocketConsumer {
public:
    NewsConsumer();

protected:
    canal::awaitable<void> connect() override;
    canal::awaitable<void> disconnect(int code) override;
    canal::awaitable<void> news_announce(canal::Message const& event);
};
