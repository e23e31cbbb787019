// LoginThrottle: failed logins per client address, bounded.
#include "multichat_app.hpp"

#include <algorithm>
#include <utility>

namespace chat {

// --- failed-login throttle --------------------------------------------------------------

LoginThrottle::LoginThrottle(std::size_t max_failures, std::chrono::seconds window,
                             std::size_t max_clients, Clock clock)
    : max_failures_(max_failures == 0 ? 1 : max_failures), window_(window),
      max_clients_(max_clients == 0 ? 1 : max_clients), clock_(std::move(clock)) {
    if (!clock_) {
        clock_ = [] { return std::chrono::steady_clock::now(); };
    }
}

std::optional<std::chrono::seconds> LoginThrottle::blocked(std::string const& client) {
    auto const now = clock_();
    std::lock_guard lock{mutex_};
    auto found = clients_.find(client);
    if (found == clients_.end()) {
        return std::nullopt;
    }
    auto const ends = found->second.since + window_;
    if (ends <= now) {
        clients_.erase(found);
        return std::nullopt;
    }
    if (found->second.failures < max_failures_) {
        return std::nullopt;
    }
    auto const left = std::chrono::ceil<std::chrono::seconds>(ends - now);
    return left;
}

void LoginThrottle::record_failure(std::string const& client) {
    auto const now = clock_();
    std::lock_guard lock{mutex_};
    auto found = clients_.find(client);
    if (found != clients_.end() && found->second.since + window_ <= now) {
        clients_.erase(found);
        found = clients_.end();
    }
    if (found == clients_.end()) {
        if (clients_.size() >= max_clients_) {
            std::erase_if(clients_, [&](auto const& e) { return e.second.since + window_ <= now; });
        }
        if (clients_.size() >= max_clients_) {
            auto oldest = std::min_element(
                clients_.begin(), clients_.end(),
                [](auto const& a, auto const& b) { return a.second.since < b.second.since; });
            clients_.erase(oldest);
        }
        found = clients_.emplace(client, Entry{0, now}).first;
    }
    ++found->second.failures;
}

void LoginThrottle::reset(std::string const& client) {
    std::lock_guard lock{mutex_};
    clients_.erase(client);
}

std::size_t LoginThrottle::size() const {
    std::lock_guard lock{mutex_};
    return clients_.size();
}

} // namespace chat
