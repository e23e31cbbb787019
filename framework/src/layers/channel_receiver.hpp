// A consumer's own channel, received by callbacks: the layer hands each message to the
// consumer's inbox as it arrives (no coroutine waits while the channel is idle, none is
// started per message). ChannelLayer::attach_receiver() returns one for the built-in layers;
// a consumer on any other layer loops on receive_until_cancelled() instead.
#pragma once

#include <canal/core/message.hpp>

#include <exception>

namespace canal::detail {

/** Where a channel's messages go (a consumer's inbox). Strand-local. */
class MessageSink {
public:
    virtual ~MessageSink() = default;
    /** Takes `message`, after the ones before it. */
    virtual void put_message(Message message) = 0;
    /** The channel failed (e.g. ChannelOverflow): in order with the messages; nothing follows. */
    virtual void fail(std::exception_ptr error) = 0;
    /** True while the sink has room for another message. */
    [[nodiscard]] virtual bool room_for_messages() const = 0;
};

/** The receiving side of one channel, attached to a sink. Strand-local. */
class ChannelReceiver {
public:
    virtual ~ChannelReceiver() = default;
    /** Hands over what is queued (while the sink has room) and waits for more. */
    virtual void start() = 0;
    /** The sink has room again. */
    virtual void resume() = 0;
    /** Detaches: nothing more reaches the sink; queued messages stay in the channel. */
    virtual void stop() = 0;
};

} // namespace canal::detail
