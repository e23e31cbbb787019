// The websocket lifecycle shared by the async and the sync websocket consumers.
#pragma once

#include <canal/consumers/async_consumer.hpp>

#include <memory>
#include <string>
#include <vector>

namespace canal::detail {

/**
 * Groups joined before connect and left after disconnect, the handshake answer
 * (accept, DenyConnection → 403, AcceptConnection), and the cleanup when a handler
 * throws: disconnect(1011) still runs, groups are left, then the socket closes with 1011.
 * The styles differ only in how the user's handlers run (the hooks below).
 */
class WebsocketBase : public AsyncConsumer {
public:
    /**
     * Groups this consumer's channel joins before connect() and leaves after disconnect().
     * Names added in connect(), where the scope and the URL's kwargs are known, are joined
     * when connect() returns (Channels users call group_add() there; both work). Later
     * changes are not followed: join or leave with channel_layer().group_add() /
     * group_discard(); names added after connect() are named in a warning at the end.
     */
    std::vector<std::string> groups;

protected:
    /** Runs the user's connect(). */
    virtual awaitable<void> hook_connect() = 0;
    /** Runs the user's receive() or receive_bytes(). */
    virtual awaitable<void> hook_receive(std::string data, bool binary) = 0;
    /** Runs the user's disconnect(code). */
    virtual awaitable<void> hook_disconnect(int code) = 0;

    /**
     * Checks and records an accept; returns the event to send, or nothing when the
     * handshake was already answered. Throws canal::Error for a subprotocol not offered.
     */
    std::optional<Event> make_accept(std::string subprotocol, Headers headers = {});
    /**
     * Returns the event for a message, or nothing once closed. Throws MessageTooLarge for
     * a message over the server's outbound limit.
     */
    std::optional<Event> make_send(std::shared_ptr<std::string const> data, bool binary) const;
    /** Records a close; returns the event, or nothing when already closed or gone. */
    std::optional<Event> make_close(int code, std::string reason);

public:
    /**
     * Bytes sent to this client that its socket has not taken yet (0 without a server).
     * A sender that checks it can slow down before the server's outbound limit
     * (`--outbound-queue-bytes`) closes the connection with 1008.
     *
     * @par Thread safety
     * May be called from any handler, async or sync.
     */
    [[nodiscard]] std::size_t buffered_amount() const noexcept {
        auto const& q = scope().outbound;
        return q ? q->bytes.load(std::memory_order_relaxed) : 0;
    }

protected:

    awaitable<void> on_event(Event event) final;
    awaitable<void> on_error(std::exception_ptr error) final;
    awaitable<void> on_finish() final;

    /** Sends `first`, then `then` (either may be nothing): send(..., close). */
    awaitable<void> send_both(std::optional<Event> first, std::optional<Event> then);

private:
    awaitable<void> join_groups();
    awaitable<void> leave_groups();
    awaitable<void> run_disconnect(int code);
    awaitable<void> send_optional(std::optional<Event> event);
    std::vector<std::string> joined_; // the groups joined, left at the end
    bool connected_ = false; // connect() ran and its groups were joined
    bool accepted_ = false;
    bool closed_ = false;            // close was sent
    bool client_gone_ = false;       // the connection ended (disconnect event received)
    bool disconnect_called_ = false; // disconnect() ran
};

} // namespace canal::detail
