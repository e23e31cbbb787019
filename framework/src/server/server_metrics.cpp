// ServerMetrics: per-thread shards of counters.
#include "server/server_metrics.hpp"

namespace canal::detail {

namespace {
// The shard of the calling thread and the metrics it belongs to (a thread serves one server).
thread_local ServerMetrics const* t_owner = nullptr;
thread_local void* t_shard = nullptr;
} // namespace

std::size_t close_bucket(int code) noexcept {
    if (code >= 1000 && code <= 1015) {
        return static_cast<std::size_t>(code - 1000);
    }
    if (code >= 3000 && code <= 3999) {
        return 16;
    }
    if (code >= 4000 && code <= 4999) {
        return 17;
    }
    return 18;
}

std::string close_bucket_label(std::size_t i) {
    if (i < 16) {
        return std::to_string(1000 + i);
    }
    return i == 16 ? "3xxx" : i == 17 ? "4xxx" : "other";
}

ServerMetrics::ServerMetrics() = default;

ServerMetrics::~ServerMetrics() {
    if (t_owner == this) {
        t_owner = nullptr;
        t_shard = nullptr;
    }
}

void ServerMetrics::attach_thread() {
    auto shard = std::make_unique<Shard>();
    t_shard = shard.get();
    t_owner = this;
    std::lock_guard lock(mutex_);
    shards_.push_back(std::move(shard));
}

void ServerMetrics::add_slot(std::size_t i, std::int64_t n) noexcept {
    auto const delta = static_cast<std::uint64_t>(n);
    if (t_owner == this) {
        // Only this thread writes its shard: a load and a store, no locked instruction.
        auto& slot = static_cast<Shard*>(t_shard)->slots[i];
        slot.store(slot.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
    } else {
        shared_.slots[i].fetch_add(delta, std::memory_order_relaxed);
    }
}

void ServerMetrics::count_http(int status) noexcept {
    auto const cls = status / 100;
    if (cls >= 1 && cls <= 5) {
        add_slot(static_cast<std::size_t>(Count::http_1xx) + static_cast<std::size_t>(cls - 1), 1);
    }
}

std::uint64_t ServerMetrics::total(std::size_t i) const {
    std::uint64_t sum = shared_.slots[i].load(std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    for (auto const& shard : shards_) {
        sum += shard->slots[i].load(std::memory_order_relaxed);
    }
    return sum;
}

} // namespace canal::detail
