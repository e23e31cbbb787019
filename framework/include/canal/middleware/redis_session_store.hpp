// RedisSessionStore: sessions in Redis, shared by every server process, expired by Redis.
#pragma once

#include <canal/middleware/session_store.hpp>

#include <memory>
#include <string>

namespace canal {

namespace redis {
class Client;
}

/**
 * Sessions in Redis through canal's Redis client: `SET <prefix><key> <json> EX <ttl>`,
 * `GET`, `DEL`. Redis does the expiry, so every process sharing the server sees the same
 * sessions (log in through one process, open the websocket on another).
 *
 * Errors from Redis (down, unreachable) propagate as canal::Error: an HTTP request then
 * gets a 500, a websocket is refused; the client reconnects by itself.
 *
 * @par Thread safety
 * Safe from any thread (the client is).
 */
class RedisSessionStore : public SessionStore {
public:
    /** Keeps sessions through `client`, under keys `prefix` + session key. */
    explicit RedisSessionStore(std::shared_ptr<redis::Client> client,
                               std::string prefix = "canal:session:");

    awaitable<std::optional<boost::json::object>> load(std::string key) override;
    awaitable<void> save(std::string key, boost::json::object data,
                         std::chrono::seconds ttl) override;
    awaitable<void> remove(std::string key) override;

private:
    std::shared_ptr<redis::Client> client_;
    std::string prefix_;
};

} // namespace canal
