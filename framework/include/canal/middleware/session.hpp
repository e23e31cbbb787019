// Session: one client's session data, loaded by SessionMiddleware and saved to a SessionStore.
#pragma once

#include <canal/core/net.hpp>
#include <canal/middleware/session_store.hpp>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace canal {

/**
 * A session (`scope["session"]` in Channels): a JSON object of values plus the key that
 * finds it in its store. A session with no key yet gets a fresh one (256 random bits, 64
 * lower-case hex digits) on its first save; a key the client sent is only used when the
 * store knows it, so a client cannot choose its own session id.
 *
 * SessionMiddleware saves a modified session when an HTTP response starts; websocket
 * consumers call save() themselves (as in Channels).
 *
 * @par Thread safety
 * One connection's handlers at a time (they never run concurrently).
 */
class Session {
public:
    /** A session of `store` under `key` (empty: new) holding `data`, kept `max_age`. */
    Session(std::shared_ptr<SessionStore> store, std::string key, boost::json::object data,
            std::chrono::seconds max_age);

    /** The current key; empty until a new session is first saved. */
    [[nodiscard]] std::string const& key() const noexcept { return key_; }
    /** The value of `name`, or nullptr. */
    [[nodiscard]] boost::json::value const* get(std::string_view name) const;
    /** Sets `name` (marks the session modified). */
    void set(std::string_view name, boost::json::value value);
    /** Removes `name`; true when it was there (then marks the session modified). */
    bool erase(std::string_view name);
    /** All values. */
    [[nodiscard]] boost::json::object const& data() const noexcept { return data_; }
    /** True when the session holds no values. */
    [[nodiscard]] bool empty() const noexcept { return data_.empty(); }
    /** True when changed since it was loaded or last saved. */
    [[nodiscard]] bool modified() const noexcept { return modified_; }
    /** Time the store keeps the session after each save (also the cookie's Max-Age). */
    [[nodiscard]] std::chrono::seconds max_age() const noexcept { return max_age_; }

    /**
     * Keeps the data under a new key, given at the next save; the old key is deleted then
     * (Django's cycle_key(): login calls it against session fixation).
     */
    void cycle_key();
    /** Drops all values and the key (Django's flush(): logout calls it). */
    void flush();

    /**
     * Writes the session to its store: under a new key if it has none, deleting keys left
     * by cycle_key()/flush(). An empty session is deleted from the store instead, and its
     * key is cleared.
     */
    awaitable<void> save();

    /** A new random session key: 256 bits from OpenSSL's RAND_bytes, as 64 hex digits. */
    static std::string new_key();
    /** True for what new_key() makes (64 lower-case hex digits): anything else is ignored. */
    static bool is_valid_key(std::string_view key) noexcept;

private:
    std::shared_ptr<SessionStore> store_;
    std::string key_;
    boost::json::object data_;
    std::chrono::seconds max_age_;
    std::vector<std::string> stale_keys_;
    bool modified_ = false;
};

} // namespace canal
