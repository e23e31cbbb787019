// CapacityTable: the first matching glob pattern gives a channel's capacity.
#include "layers/capacity_table.hpp"

#include <fnmatch.h>

#include <stdexcept>

namespace canal::detail {

bool glob_match(std::string_view pattern, std::string_view name) {
    // fnmatch(3) without FNM_PATHNAME ('/' is ordinary) and with FNM_NOESCAPE (so is '\\',
    // as in Python's fnmatch, which channels_redis uses).
    return fnmatch(std::string(pattern).c_str(), std::string(name).c_str(), FNM_NOESCAPE) == 0;
}

CapacityTable::CapacityTable(std::vector<std::pair<std::string, std::size_t>> patterns,
                             std::size_t default_capacity)
    : patterns_(std::move(patterns)), default_(default_capacity) {
    for (auto const& [pattern, cap] : patterns_) {
        if (cap == 0) {
            throw std::invalid_argument("channel capacity for pattern '" + pattern +
                                        "' must be at least 1");
        }
        if (pattern.empty()) {
            throw std::invalid_argument("channel capacity pattern must not be empty");
        }
    }
}

std::size_t CapacityTable::capacity(std::string_view channel) const {
    for (auto const& [pattern, cap] : patterns_) {
        if (glob_match(pattern, channel)) {
            return cap;
        }
    }
    return default_;
}

} // namespace canal::detail
