// Direct delivery of a websocket's client events into a consumer's inbox. Through Receive,
// each event took a pump coroutine and a second queue per connection (a frame kept for the
// connection's whole life, and two hops per message); a consumer that finds the server's own
// Receive attaches its inbox to the connection instead. Anything else (a middleware that
// wraps receive, a communicator) goes through Receive as before.
#pragma once

#include <canal/core/application.hpp>

#include <memory>

namespace canal::detail {

/** Where the server puts a connection's client events (a consumer's inbox). Strand-local. */
class EventSink {
public:
    virtual ~EventSink() = default;
    /** Takes `event` now, after the ones before it. */
    virtual void put(Event event) = 0;
    /** True while the sink has room for another message from the client. */
    [[nodiscard]] virtual bool has_room() const = 0;
};

/** A connection's client events, for a consumer to attach to. Strand-local. */
class EventSource {
public:
    virtual ~EventSource() = default;
    /** The next event, for a Receive call. */
    virtual awaitable<Event> next() = 0;
    /**
     * From now on events go to `sink` (the ones queued so far first, in order); nullptr
     * detaches it (events queue for next() again). The sink must stay valid until detached.
     */
    virtual void attach(EventSink* sink) = 0;
    /** The attached sink has room again: the source may read more from the client. */
    virtual void room() = 0;
    /**
     * Keeps `what` until the connection's application has ended (a router's table entry
     * that the application's awaitable refers to): no frame of the router's own is needed
     * for it.
     */
    virtual void hold(std::shared_ptr<void const> what) = 0;
};

/**
 * The Receive callable a server hands to websocket applications; consumers look for it
 * with std::function::target to attach their inbox.
 */
struct SourceReceive {
    std::shared_ptr<EventSource> source;
    awaitable<Event> operator()() const { return source->next(); }
};

} // namespace canal::detail
