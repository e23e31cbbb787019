// InMemoryChannelLayer: a channel layer for one process (Channels' InMemoryChannelLayer).
#pragma once

#include <canal/layers/channel_layer.hpp>

#include <memory>

namespace canal {

/**
 * A channel layer inside one process: channels are bounded queues, groups are sets of
 * channel names with expiry. group_send shares one immutable Message among all members.
 *
 * As in Channels, a message not received within `expiry` is dropped, and the channel it
 * was queued on leaves every group (a channel that nobody reads is presumed dead).
 *
 * @par Thread safety
 * Safe from any number of threads; receivers resume on their own executor.
 */
class InMemoryChannelLayer final : public ChannelLayer {
public:
    /** Throws std::invalid_argument for a zero capacity or a non-positive expiry. */
    explicit InMemoryChannelLayer(LayerSettings settings = {});
    ~InMemoryChannelLayer() override;

    awaitable<void> send(std::string channel, Message message) override;

    /**
     * Waits for the next message on `channel`; resumes on the caller's executor.
     *
     * A channel has one receiver at a time (its consumer): a second receive() on a channel
     * while one is waiting throws canal::Error.
     *
     * @par Cancellation
     * Supports terminal cancellation: throws `system_error(operation_aborted)`; the message
     * stays queued for the next receive().
     */
    awaitable<Message> receive(std::string channel) override;
    awaitable<std::optional<Message>> receive_until_cancelled(std::string channel) override;
    std::shared_ptr<detail::ChannelReceiver>
    attach_receiver(std::string const& channel, net::any_io_executor ex,
                    detail::MessageSink* sink) override;

    /** `prefix` + `.inmemory!` + 12 random letters; `prefix` follows the group name rules. */
    awaitable<std::string> new_channel(std::string prefix = "specific") override;
    awaitable<void> group_add(std::string group, std::string channel) override;
    awaitable<void> group_discard(std::string group, std::string channel) override;
    awaitable<void> group_send(std::string group, Message message) override;
    awaitable<void> flush() override;
    /** Presence within this process (ChannelLayer::presence_track()). */
    awaitable<void> presence_track(std::string group, std::string channel,
                                   boost::json::object meta) override;
    awaitable<void> presence_untrack(std::string group, std::string channel) override;
    awaitable<std::vector<PresenceEntry>> group_members(std::string group) override;
    [[nodiscard]] bool has_presence() const noexcept override { return true; }
    [[nodiscard]] std::size_t dropped_count() const noexcept override;

    /** The settings this layer was built with. */
    [[nodiscard]] LayerSettings const& settings() const noexcept;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

} // namespace canal
