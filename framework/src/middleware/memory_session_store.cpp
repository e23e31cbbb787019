// MemorySessionStore: a bounded map of sessions with expiry.
#include <canal/middleware/memory_session_store.hpp>

#include <utility>

namespace canal {

MemorySessionStore::MemorySessionStore(std::size_t max_sessions, Clock clock)
    : max_sessions_(max_sessions == 0 ? 1 : max_sessions), clock_(std::move(clock)) {
    if (!clock_) {
        clock_ = [] { return std::chrono::steady_clock::now(); };
    }
}

awaitable<std::optional<boost::json::object>> MemorySessionStore::load(std::string key) {
    std::optional<boost::json::object> out;
    {
        auto const now = clock_();
        std::lock_guard lock{mutex_};
        auto found = sessions_.find(key);
        if (found != sessions_.end()) {
            if (found->second.expires <= now) {
                sessions_.erase(found);
            } else {
                out = found->second.data;
            }
        }
    }
    co_return out;
}

awaitable<void> MemorySessionStore::save(std::string key, boost::json::object data,
                                         std::chrono::seconds ttl) {
    {
        auto const now = clock_();
        std::lock_guard lock{mutex_};
        auto found = sessions_.find(key);
        if (found == sessions_.end() && sessions_.size() >= max_sessions_) {
            make_room(now);
        }
        sessions_.insert_or_assign(std::move(key), Entry{std::move(data), now + ttl});
    }
    co_return;
}

awaitable<void> MemorySessionStore::remove(std::string key) {
    {
        std::lock_guard lock{mutex_};
        sessions_.erase(key);
    }
    co_return;
}

std::size_t MemorySessionStore::size() const {
    std::lock_guard lock{mutex_};
    return sessions_.size();
}

// Called with the mutex held, when full: expired sessions go first; if none had expired,
// the one closest to expiry makes room (rare: only a flood of logins gets here).
void MemorySessionStore::make_room(std::chrono::steady_clock::time_point now) {
    std::erase_if(sessions_, [now](auto const& entry) { return entry.second.expires <= now; });
    if (sessions_.size() < max_sessions_) {
        return;
    }
    auto oldest = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
        if (it->second.expires < oldest->second.expires) {
            oldest = it;
        }
    }
    sessions_.erase(oldest);
}

} // namespace canal
