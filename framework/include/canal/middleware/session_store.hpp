// SessionStore: where sessions live between requests (the interface of the session backends).
#pragma once

#include <canal/core/net.hpp>

#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace canal {

/**
 * A session backend (Django's SessionStore engines): session data by session key, each
 * with a server-side expiry. Implementations: MemorySessionStore, RedisSessionStore.
 *
 * @par Thread safety
 * Implementations are called from any I/O thread concurrently.
 */
class SessionStore {
public:
    virtual ~SessionStore() = default;

    /** The data saved under `key`, or nothing when it is unknown or has expired. */
    virtual awaitable<std::optional<boost::json::object>> load(std::string key) = 0;
    /** Saves `data` under `key`, to expire `ttl` from now (replacing what was there). */
    virtual awaitable<void> save(std::string key, boost::json::object data,
                                 std::chrono::seconds ttl) = 0;
    /** Deletes `key` (nothing happens when it is unknown). */
    virtual awaitable<void> remove(std::string key) = 0;
};

} // namespace canal
