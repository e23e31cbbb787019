// Presence shared by the layers: the presence.diff message, argument checks, and the
// process-local table the in-memory layer keeps.
#pragma once

#include <canal/core/message.hpp>
#include <canal/layers/channel_layer.hpp>

#include <boost/json/object.hpp>

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace canal::detail {

/** Largest presence meta, serialized as JSON. */
inline constexpr std::size_t max_presence_meta = 4096;

/**
 * `{"type": "presence.diff", "group": GROUP, "joins": JOINS, "leaves": LEAVES}`: channel
 * names to their meta.
 */
Message presence_diff(std::string_view group, boost::json::object joins,
                      boost::json::object leaves);

/**
 * Throws InvalidName for a bad group or channel name, canal::Error for a meta over
 * max_presence_meta; returns the meta serialized.
 */
std::string check_presence(std::string_view group, std::string_view channel,
                           boost::json::object const& meta);

/** Who is present in which group, in one process. Thread-safe. */
class LocalPresence {
public:
    void track(std::string const& group, std::string const& channel, boost::json::object meta);
    /** The channel's meta when it was tracked. */
    std::optional<boost::json::object> untrack(std::string const& group,
                                               std::string const& channel);
    [[nodiscard]] std::vector<PresenceEntry> members(std::string const& group) const;
    void clear();

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::map<std::string, boost::json::object, std::less<>>, std::less<>>
        groups_;
};

} // namespace canal::detail
