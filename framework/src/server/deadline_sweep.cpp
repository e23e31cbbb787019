#include "server/deadline_sweep.hpp"

#include <algorithm>

namespace canal::detail {

std::chrono::milliseconds DeadlineSweep::period_for(std::chrono::milliseconds shortest) {
    using std::chrono::milliseconds;
    return std::clamp(shortest / 4, milliseconds(5), milliseconds(1000));
}

void DeadlineSweep::add(Client& client) {
    std::lock_guard lock(mutex_);
    if (client.slot_ != Client::npos) {
        return;
    }
    client.slot_ = clients_.size();
    clients_.push_back(&client);
}

void DeadlineSweep::remove(Client& client) noexcept {
    std::lock_guard lock(mutex_);
    auto const slot = client.slot_;
    if (slot == Client::npos) {
        return;
    }
    // The last one takes its place.
    clients_[slot] = clients_.back();
    clients_[slot]->slot_ = slot;
    clients_.pop_back();
    client.slot_ = Client::npos;
}

std::size_t DeadlineSweep::sweep(Clock::time_point now) {
    auto const at = now.time_since_epoch().count();
    std::size_t told = 0;
    std::lock_guard lock(mutex_);
    for (auto* client : clients_) {
        auto due = client->due_.load(std::memory_order_relaxed);
        // Cleared first, so that a deadline set again meanwhile is not lost.
        if (due != 0 && due <= at &&
            client->due_.compare_exchange_strong(due, 0, std::memory_order_relaxed)) {
            client->deadline_passed();
            ++told;
        }
    }
    return told;
}

std::size_t DeadlineSweep::size() const {
    std::lock_guard lock(mutex_);
    return clients_.size();
}

} // namespace canal::detail
