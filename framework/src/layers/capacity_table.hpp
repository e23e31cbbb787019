// Per-channel capacities by glob pattern (channels_redis' `channel_capacity`), shared by the
// in-memory and the Redis layers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace canal::detail {

/** Capacity patterns: glob (`*`, `?`, `[...]`) → capacity, first match wins. */
class CapacityTable {
public:
    /** @throws std::invalid_argument for a zero capacity or a malformed pattern. */
    CapacityTable(std::vector<std::pair<std::string, std::size_t>> patterns,
                  std::size_t default_capacity);
    /** The capacity of `channel`. */
    [[nodiscard]] std::size_t capacity(std::string_view channel) const;

private:
    std::vector<std::pair<std::string, std::size_t>> patterns_;
    std::size_t default_;
};

/** True when `name` matches the glob `pattern` (fnmatch: `*`, `?`, `[abc]`, `[!abc]`). */
bool glob_match(std::string_view pattern, std::string_view name);

} // namespace canal::detail
