// InMemoryChannelLayer: a channel layer for one process (Channels' InMemoryChannelLayer).
#pragma once

#include <canal/layers/channel_layer.hpp>

#include <memory>

namespace canal {

/**
 * A channel layer inside one process: channels are bounded queues, groups are sets of
 * channel names with expiry. group_send shares one immutable Message among all members.
 *
 * @par Thread safety
 * Safe from any number of threads; receivers resume on their own executor.
 */
class InMemoryChannelLayer final : public ChannelLayer {
public:
    explicit InMemoryChannelLayer(LayerSettings settings = {});
    ~InMemoryChannelLayer() override;

    awaitable<void> send(std::string channel, Message message) override;
    awaitable<Message> receive(std::string channel) override;
    awaitable<std::string> new_channel(std::string prefix = "specific") override;
    awaitable<void> group_add(std::string group, std::string channel) override;
    awaitable<void> group_discard(std::string group, std::string channel) override;
    awaitable<void> group_send(std::string group, Message message) override;
    awaitable<void> flush() override;
    [[nodiscard]] std::size_t dropped_count() const noexcept override;

    /** The settings this layer was built with. */
    [[nodiscard]] LayerSettings const& settings() const noexcept;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace canal
