// Presence shared by the layers; ChannelLayer's defaults (no presence).
#include "layers/presence.hpp"

#include <canal/core/errors.hpp>

#include <boost/json/serialize.hpp>

namespace canal {

namespace detail {

Message presence_diff(std::string_view group, boost::json::object joins,
                      boost::json::object leaves) {
    boost::json::object o;
    o["type"] = "presence.diff";
    o["group"] = group;
    o["joins"] = std::move(joins);
    o["leaves"] = std::move(leaves);
    return Message(std::move(o));
}

std::string check_presence(std::string_view group, std::string_view channel,
                           boost::json::object const& meta) {
    ChannelLayer::require_valid_group_name(group);
    ChannelLayer::require_valid_channel_name(channel);
    auto text = boost::json::serialize(meta);
    if (text.size() > max_presence_meta) {
        throw Error("presence meta of " + std::to_string(text.size()) +
                    " bytes as JSON for channel '" + std::string(channel) + "': at most " +
                    std::to_string(max_presence_meta));
    }
    return text;
}

void LocalPresence::track(std::string const& group, std::string const& channel,
                          boost::json::object meta) {
    std::lock_guard lock(mutex_);
    groups_[group][channel] = std::move(meta);
}

std::optional<boost::json::object> LocalPresence::untrack(std::string const& group,
                                                          std::string const& channel) {
    std::lock_guard lock(mutex_);
    auto g = groups_.find(group);
    if (g == groups_.end()) {
        return std::nullopt;
    }
    auto c = g->second.find(channel);
    if (c == g->second.end()) {
        return std::nullopt;
    }
    auto meta = std::move(c->second);
    g->second.erase(c);
    if (g->second.empty()) {
        groups_.erase(g);
    }
    return meta;
}

std::vector<PresenceEntry> LocalPresence::members(std::string const& group) const {
    std::vector<PresenceEntry> out;
    std::lock_guard lock(mutex_);
    auto g = groups_.find(group);
    if (g != groups_.end()) {
        for (auto const& [channel, meta] : g->second) {
            out.push_back(PresenceEntry{channel, meta});
        }
    }
    return out;
}

void LocalPresence::clear() {
    std::lock_guard lock(mutex_);
    groups_.clear();
}

} // namespace detail

awaitable<void> ChannelLayer::presence_track(std::string /*group*/, std::string /*channel*/,
                                             boost::json::object /*meta*/) {
    throw Error("this channel layer has no presence (presence_track): the in-memory and "
                "Redis layers have it");
    co_return;
}

awaitable<void> ChannelLayer::presence_untrack(std::string /*group*/, std::string /*channel*/) {
    throw Error("this channel layer has no presence (presence_untrack): the in-memory and "
                "Redis layers have it");
    co_return;
}

awaitable<std::vector<PresenceEntry>> ChannelLayer::group_members(std::string /*group*/) {
    throw Error("this channel layer has no presence (group_members): the in-memory and "
                "Redis layers have it");
    co_return std::vector<PresenceEntry>{};
}

} // namespace canal
