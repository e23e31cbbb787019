// AsyncHttpConsumer: coroutine handlers for one HTTP request (channels.generic.http).
#pragma once

#include <canal/consumers/async_consumer.hpp>

#include <string>

namespace canal {

/**
 * An HTTP consumer with coroutine handlers: long-poll, server-sent events, any streamed or
 * plain response (Channels' AsyncHttpConsumer).
 *
 * The body is collected (the server enforces Settings::max_body_size: 413) and handle(body)
 * runs. A response is sent with send_response(), or with send_headers() and send_body()
 * parts: `more_body = true` keeps it open, and the consumer keeps running, handling its
 * channel layer messages (on()), until a part with `more_body = false` ends it or the
 * client goes away. Either way disconnect() runs once, then the consumer stops.
 *
 * Channels stops the consumer as soon as handle() returns; here a response left open by
 * handle() stays open, so that layer messages can stream into it (the long-poll example of
 * Channels' documentation works as written).
 *
 * A handler that throws before any part was sent answers 500; after, the response is cut
 * short (the connection is closed).
 */
class AsyncHttpConsumer : public AsyncConsumer {
protected:
    /** The whole request body; compose the response with the send methods. Must be given. */
    virtual awaitable<void> handle(std::string body) = 0;
    /** The exchange is over (response ended, or the client went away). Send nothing here. */
    virtual awaitable<void> disconnect();

    /** Sets the status and headers; they go out with the first send_body(). */
    awaitable<void> send_headers(int status = 200, Headers headers = {});
    /** Sends a part of the body; `more_body` false ends the response. */
    awaitable<void> send_body(std::string body, bool more_body = false);
    /** send_headers() and one send_body(): the whole response. */
    awaitable<void> send_response(int status, std::string body, Headers headers = {});

    /** True once a part with `more_body` false was sent. */
    [[nodiscard]] bool response_ended() const noexcept { return ended_; }

    awaitable<void> on_event(Event event) override;
    awaitable<void> on_finish() override;

private:
    awaitable<void> finish_once();

    std::string body_;
    bool ended_ = false;
    bool disconnected_ = false;
};

} // namespace canal
