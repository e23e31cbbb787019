// Helpers shared by the consumer tests: channel layer calls run to completion from the test
// thread, a receive with a deadline, and the record a test consumer keeps of its calls.
#pragma once

#include "support/async_run.hpp"

#include <canal/core/errors.hpp>
#include <canal/core/event.hpp>
#include <canal/core/message.hpp>
#include <canal/layers/channel_layer.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace canal::test {

/** What a test consumer saw; shared with the test through the consumer's constructor. */
struct Record {
    /** channel_name() as seen in connect(). */
    std::string channel;
    /** Codes disconnect() was called with, in order. */
    std::vector<int> disconnect_codes;
};
using RecordPtr = std::shared_ptr<Record>;

/** Upper bound for any layer call made from the test thread. */
inline constexpr auto layer_deadline = std::chrono::seconds(5);

// run_sync(): support/async_run.hpp.

/** The next message on `channel`, or nullopt when none arrives within `wait`. */
inline std::optional<Message>
try_receive(ChannelLayer& layer, std::string channel,
            std::chrono::milliseconds wait = std::chrono::milliseconds(20)) {
    net::io_context ioc;
    net::cancellation_signal cancel;
    bool done = false;
    std::optional<Message> got;
    std::exception_ptr failure;
    net::co_spawn(ioc, layer.receive(std::move(channel)),
                  net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, Message m) {
                      done = true;
                      failure = e;
                      if (!e) {
                          got = std::move(m);
                      }
                  }));
    ioc.run_for(wait);
    if (!done) {
        cancel.emit(net::cancellation_type::terminal);
        ioc.run_for(layer_deadline);
    }
    if (!done) {
        throw std::runtime_error("receive() did not end after terminal cancellation");
    }
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (boost::system::system_error const& e) {
            if (e.code() != net::error::operation_aborted) {
                throw;
            }
        }
    }
    return got;
}

/** Every message queued on `channel` now. */
inline std::vector<Message> drain(ChannelLayer& layer, std::string const& channel) {
    std::vector<Message> out;
    while (auto m = try_receive(layer, channel, std::chrono::milliseconds(5))) {
        out.push_back(std::move(*m));
    }
    return out;
}

/** A layer message `{"type": type, "text": text}`. */
inline Message text_message(std::string const& type, std::string const& text) {
    boost::json::object obj;
    obj["type"] = type;
    obj["text"] = text;
    return Message(std::move(obj));
}

/**
 * True when `channel` is no longer a member of `group`: a group_send reaches another
 * member added now (so the send itself works) and queues nothing on `channel`.
 */
inline bool left_group(ChannelLayer& layer, std::string const& group, std::string const& channel) {
    std::string const observer = "observer.check";
    run_sync(layer.group_add(group, observer));
    run_sync(layer.group_send(group, text_message("left.check", group)));
    auto seen = try_receive(layer, observer);
    run_sync(layer.group_discard(group, observer));
    if (!seen || seen->type() != "left.check") {
        throw std::runtime_error("group_send to '" + group + "' did not reach the observer");
    }
    for (auto const& m : drain(layer, channel)) {
        if (m.type() == "left.check") {
            return false;
        }
    }
    return true;
}

/** The close event `ev` holds, or throws naming what it holds instead. */
inline WebsocketClose const& as_close(Event const& ev) {
    if (auto const* c = std::get_if<WebsocketClose>(&ev)) {
        return *c;
    }
    throw std::runtime_error("expected a WebsocketClose, got event #" + std::to_string(ev.index()));
}

/** The send event `ev` holds, or throws naming what it holds instead. */
inline WebsocketSend const& as_send(Event const& ev) {
    if (auto const* s = std::get_if<WebsocketSend>(&ev)) {
        return *s;
    }
    if (auto const* c = std::get_if<WebsocketClose>(&ev)) {
        throw std::runtime_error("expected a WebsocketSend, got a close " +
                                 std::to_string(c->code) + " (" + c->reason + ")");
    }
    throw std::runtime_error("expected a WebsocketSend, got event #" + std::to_string(ev.index()));
}

/** The next output event, or why there was none (timeout, application ended). */
struct Output {
    std::optional<Event> event;
    std::string error;
};

/** Waits for the next output event without throwing, so that a test can check the rest. */
inline Output next_output(WebsocketCommunicator& comm) {
    try {
        return Output{comm.receive_output(), {}};
    } catch (std::exception const& e) {
        return Output{std::nullopt, e.what()};
    }
}

/** The close code when `out` is a WebsocketClose, else -1. */
inline int close_code(Output const& out) {
    auto const* c = out.event ? std::get_if<WebsocketClose>(&*out.event) : nullptr;
    return c != nullptr ? c->code : -1;
}

/** What `out` holds, for failure messages. */
inline std::string describe(Output const& out) {
    if (!out.event) {
        return "no event: " + out.error;
    }
    if (auto const* c = std::get_if<WebsocketClose>(&*out.event)) {
        return "close " + std::to_string(c->code) + " (" + c->reason + ")";
    }
    if (auto const* s = std::get_if<WebsocketSend>(&*out.event)) {
        return "send '" + *s->data + "'";
    }
    return "event #" + std::to_string(out.event->index());
}

} // namespace canal::test
