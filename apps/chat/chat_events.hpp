// The tutorial room chat without websockets: a room as server-sent events, and POST to send.
#pragma once

#include <canal/consumers/async_http_consumer.hpp>

#include <string>

namespace chat {

/**
 * `/chat/<room_name>/events`, for clients that cannot open a websocket:
 * - `GET`: a `text/event-stream` of the room's messages, each as one `data:` line holding
 *   the websocket route's frame, `{"message": TEXT}` (a browser's `EventSource` reads it);
 * - `POST` with `Content-Type: application/json` and `{"message": TEXT}`: sends to the room
 *   (204), as a websocket client's frame does. Requiring JSON keeps other sites' forms out
 *   (a cross-site JSON POST needs a CORS preflight, which is not answered).
 * The room keeps no history, so `Last-Event-ID` has nothing to resume and events carry no id.
 */
class ChatEventsConsumer : public canal::AsyncHttpConsumer {
public:
    ChatEventsConsumer();

protected:
    canal::awaitable<void> handle(std::string body) override;
    canal::awaitable<void> disconnect() override;
    canal::awaitable<void> chat_message(canal::Message const& event);

private:
    canal::awaitable<void> post(std::string const& body);
    canal::awaitable<void> refuse(int status, std::string error);

    std::string group_;
    bool joined_ = false;
};

} // namespace chat
