// Subscriber: a Redis connection in pub/sub mode (SUBSCRIBE/UNSUBSCRIBE, pushed messages),
// reconnecting and resubscribing by itself; parse_push() is its sans-I/O part.
#pragma once

#include <canal/core/net.hpp>
#include <canal/redis/client.hpp>
#include <canal/redis/reply.hpp>
#include <canal/redis/url.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace canal::redis::detail {

/** One reply read on a subscribed connection (RESP2 push arrays), interpreted. */
struct Push {
    /** What the server pushed. */
    enum class Kind {
        message,     ///< `message`: a PUBLISH reached a subscribed channel
        subscribe,   ///< `subscribe`: SUBSCRIBE confirmed for `channel`
        unsubscribe, ///< `unsubscribe`: UNSUBSCRIBE confirmed for `channel`
        pong,        ///< `pong`: answer to PING in pub/sub mode
        error,       ///< an error reply, its text in `payload`
    };
    Kind kind = Kind::message;
    /** The pub/sub channel. */
    std::string channel;
    /** The published payload (message), or the error text (error). */
    std::string payload;
    /** Channels subscribed after a subscribe/unsubscribe confirmation. */
    long long count = 0;
};

/**
 * Interprets `reply` as a RESP2 pub/sub push: `["message", channel, payload]`,
 * `["subscribe" | "unsubscribe", channel, count]`, `["pong", data]`, or an error reply.
 *
 * @throws canal::Error for anything else (the connection is then out of step).
 */
Push parse_push(Reply reply);

/**
 * One Redis connection in pub/sub mode. SUBSCRIBE waits for the server's confirmation, so a
 * PUBLISH made after subscribe() returns is delivered. Pushed messages are handed to
 * `on_message` in the order they arrive.
 *
 * When the connection is lost it reconnects with back-off (AUTH and SELECT again), logs a
 * line, and subscribes again to every channel it had; messages published meanwhile are lost
 * (Redis pub/sub keeps nothing). While disconnected, subscribe() fails at once.
 *
 * @par Thread safety
 * None: every call, and `on_message`, on one thread, that of the executor given (an
 * io_context run by a single thread).
 */
class Subscriber {
public:
    /** Receives each pushed message: the pub/sub channel and the payload. Must not block. */
    using Handler = std::function<void(std::string const& channel, std::string const& payload)>;

    /** Does not connect yet. */
    Subscriber(net::any_io_executor ex, Url url, ClientOptions options, Handler on_message);
    /** Closes the connection. */
    ~Subscriber();
    Subscriber(Subscriber const&) = delete;
    Subscriber& operator=(Subscriber const&) = delete;

    /**
     * Connects unless connected: waits for the attempt in progress or starts one.
     *
     * @throws ConnectionError naming Redis and the address when the attempt fails (the
     * subscriber keeps trying in the background).
     */
    awaitable<void> connect();

    /**
     * Subscribes to `channel` and waits for the confirmation; at once when subscribed already.
     *
     * @throws ConnectionError when not connected, or on no confirmation within
     * `command_timeout` (the connection is then re-established); the channel is not kept.
     */
    awaitable<void> subscribe(std::string channel);

    /** Unsubscribes from `channel` (without waiting); a no-op when not subscribed. */
    void unsubscribe(std::string const& channel);

    /** Closes the connection and stops reconnecting. Idempotent. */
    void close();

    /** True while the connection is up. */
    [[nodiscard]] bool connected() const noexcept;
    /** Channels subscribed to (or being subscribed to). */
    [[nodiscard]] std::size_t channel_count() const noexcept;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace canal::redis::detail
