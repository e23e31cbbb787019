// ChannelLayer's name validation, shared by every layer (Channels' BaseChannelLayer rules).
#include <canal/layers/channel_layer.hpp>

#include <canal/core/errors.hpp>

#include <boost/system/system_error.hpp>

#include <cstdio>
#include <string>

namespace canal {

namespace {

// Channels' MAX_NAME_LENGTH: names must be strictly shorter.
constexpr std::size_t max_name_length = 100;

constexpr bool is_name_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

// The name as it appears in an error message: cut when huge, control bytes escaped, so a
// client-supplied name cannot flood or forge log lines.
std::string quoted_for_error(std::string_view name) {
    constexpr std::size_t shown = 120;
    std::string out = "'";
    for (char c : name.substr(0, shown)) {
        auto const u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    out += '\'';
    if (name.size() > shown) {
        out += "... (" + std::to_string(name.size()) + " bytes)";
    }
    return out;
}

} // namespace

LayerStats ChannelLayer::layer_stats() const {
    LayerStats out;
    for (std::size_t i = 0; i < group_send_counts_.size(); ++i) {
        out.group_send_histogram[i] = group_send_counts_[i].load(std::memory_order_relaxed);
    }
    out.group_send_seconds =
        static_cast<double>(group_send_ns_.load(std::memory_order_relaxed)) / 1e9;
    return out;
}

void ChannelLayer::observe_group_send(std::chrono::steady_clock::duration took) noexcept {
    auto const ns = std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
    auto const seconds = static_cast<double>(ns) / 1e9;
    std::size_t i = 0;
    while (i < group_send_buckets.size() && seconds > group_send_buckets[i]) {
        ++i;
    }
    group_send_counts_[i].fetch_add(1, std::memory_order_relaxed);
    group_send_ns_.fetch_add(static_cast<std::uint64_t>(ns < 0 ? 0 : ns), std::memory_order_relaxed);
}

awaitable<void> ChannelLayer::timed_group_send(awaitable<void> op) {
    auto const start = std::chrono::steady_clock::now();
    co_await std::move(op);
    auto const took = std::chrono::steady_clock::now() - start;
    observe_group_send(took);
}

std::shared_ptr<detail::ChannelReceiver>
ChannelLayer::attach_receiver(std::string const& /*channel*/, net::any_io_executor /*ex*/,
                              detail::MessageSink* /*sink*/) {
    return nullptr;
}

awaitable<std::optional<Message>> ChannelLayer::receive_until_cancelled(std::string channel) {
    try {
        co_return co_await receive(std::move(channel));
    } catch (boost::system::system_error const& e) {
        if (e.code() != net::error::operation_aborted) {
            throw;
        }
    }
    co_return std::nullopt;
}

std::shared_ptr<ChannelLayer> get_channel_layer(Scope const& scope, std::string_view alias) {
    if (scope.channel_layers) {
        auto const it = scope.channel_layers->find(alias);
        return it == scope.channel_layers->end() ? nullptr : it->second;
    }
    return alias == default_layer_alias ? scope.channel_layer : nullptr;
}

std::string layer_aliases(Scope const& scope) {
    std::string out;
    if (scope.channel_layers) {
        for (auto const& [alias, layer] : *scope.channel_layers) {
            out += (out.empty() ? "" : ", ") + alias;
        }
    } else if (scope.channel_layer) {
        out = default_layer_alias;
    }
    return out.empty() ? "none" : out;
}

bool ChannelLayer::settle(std::chrono::milliseconds /*limit*/) {
    return true; // completions are handed over on the callers' own threads
}

bool ChannelLayer::is_valid_group_name(std::string_view name) noexcept {
    if (name.empty() || name.size() >= max_name_length) {
        return false;
    }
    for (char c : name) {
        if (!is_name_char(c)) {
            return false;
        }
    }
    return true;
}

bool ChannelLayer::is_valid_channel_name(std::string_view name) noexcept {
    if (name.empty() || name.size() >= max_name_length) {
        return false;
    }
    // Channels: `^[a-zA-Z\d\-_.]+(\![\d\w\-_.]*)?$`, i.e. at most one '!', not first;
    // what follows it may be empty (the non-local part of a process-local name).
    auto const bang = name.find('!');
    if (bang == 0) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (i != bang && !is_name_char(name[i])) {
            return false;
        }
    }
    return true;
}

void ChannelLayer::require_valid_group_name(std::string_view name) {
    if (!is_valid_group_name(name)) {
        throw InvalidName("group name " + quoted_for_error(name) +
                          " is invalid: only ASCII letters, digits, '-', '_' and '.' are "
                          "allowed, under 100 characters");
    }
}

void ChannelLayer::require_valid_channel_name(std::string_view name) {
    if (!is_valid_channel_name(name)) {
        throw InvalidName("channel name " + quoted_for_error(name) +
                          " is invalid: only ASCII letters, digits, '-', '_', '.' and one '!' "
                          "(not first) are allowed, under 100 characters");
    }
}

} // namespace canal
