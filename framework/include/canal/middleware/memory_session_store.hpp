// MemorySessionStore: sessions in the process's memory (one server process, tests).
#pragma once

#include <canal/middleware/session_store.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace canal {

/**
 * Sessions kept in memory, with expiry checked on every load. Bounded: when `max_sessions`
 * would be exceeded, expired sessions are purged, then those closest to expiry are evicted.
 * Sessions are lost when the process ends and are not shared between processes: use
 * RedisSessionStore for that.
 *
 * @par Thread safety
 * Safe from any thread (one mutex, held only for map operations).
 */
class MemorySessionStore : public SessionStore {
public:
    /** The clock used for expiry (replaceable in tests). */
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    /** A store of at most `max_sessions` sessions, timed by `clock` (default: steady_clock). */
    explicit MemorySessionStore(std::size_t max_sessions = 100000, Clock clock = {});

    awaitable<std::optional<boost::json::object>> load(std::string key) override;
    awaitable<void> save(std::string key, boost::json::object data,
                         std::chrono::seconds ttl) override;
    awaitable<void> remove(std::string key) override;

    /** Sessions held right now (expired ones not yet purged included). */
    [[nodiscard]] std::size_t size() const;

private:
    struct Entry {
        boost::json::object data;
        std::chrono::steady_clock::time_point expires;
    };
    void make_room(std::chrono::steady_clock::time_point now);

    std::size_t max_sessions_;
    Clock clock_;
    mutable std::mutex mutex_;
    std::map<std::string, Entry, std::less<>> sessions_;
};

} // namespace canal
