// Process-local channel queues shared by the in-memory layer and the Redis layer's receive
// side (messages arriving from Redis are handed to the local channel they name).
#pragma once

#include <canal/core/message.hpp>
#include <canal/core/net.hpp>
#include <canal/layers/channel_layer.hpp>

#include "layers/channel_receiver.hpp"

#include <memory>
#include <string>
#include <vector>

namespace canal::detail {

class InMemoryLayerState;

/** Bounded local channels with the in-memory layer's semantics (capacity, expiry). */
std::shared_ptr<InMemoryLayerState> make_local_channels(LayerSettings settings);

/** Queues `message` on `channel` without waiting; false (nothing queued) when it is full. */
bool offer_local(InMemoryLayerState& state, std::string const& channel, Message message);

/**
 * Queues `message` on each of `channels`, waiting for room in the full ones (up to
 * `backpressure_timeout`; those still full then are given up, as overflow_local()).
 */
awaitable<void> offer_local_waiting(std::shared_ptr<InMemoryLayerState> state,
                                    std::vector<std::string> channels, Message message);

/** Gives `channel` up: its next receive() throws ChannelOverflow (counted as dropped). */
void overflow_local(InMemoryLayerState& state, std::string const& channel);

/** Waits for the next message of `channel` (one receiver per channel; cancellable). */
awaitable<Message> receive_local(std::shared_ptr<InMemoryLayerState> state, std::string channel);

/** receive_local(), but nothing instead of operation_aborted when cancelled. */
awaitable<std::optional<Message>>
receive_local_until_cancelled(std::shared_ptr<InMemoryLayerState> state, std::string channel);

/** A callback receiver of `channel` handing its messages to `sink` (already started). */
std::shared_ptr<ChannelReceiver> attach_local_receiver(std::shared_ptr<InMemoryLayerState> state,
                                                       std::string const& channel,
                                                       net::any_io_executor ex,
                                                       MessageSink* sink);

/** Messages given up so far (overflow_local() and timed-out offer_local_waiting()). */
std::size_t local_dropped(InMemoryLayerState const& state) noexcept;

/** Drops every queued message. */
void flush_local(InMemoryLayerState& state);

} // namespace canal::detail
