// SyncConsumer: a consumer whose layer message handlers are plain blocking functions.
#pragma once

#include <canal/consumers/async_consumer.hpp>
#include <canal/consumers/blocking_handlers.hpp>
#include <canal/sync/async_to_sync.hpp>

namespace canal {

/**
 * Base of the blocking consumers (channels.consumer.SyncConsumer).
 *
 * The consumer's inbox is the same as AsyncConsumer's, but each handler runs on the
 * handler thread pool: a handler may block (a database call, a file) without stalling the
 * I/O threads. One consumer's handlers never overlap and run in arrival order; different
 * consumers' handlers run in parallel on the pool (unlike Channels, where all sync
 * consumers of a process share one thread). From a handler, reach async APIs with
 * async_to_sync(), e.g. `async_to_sync([&] { return channel_layer().group_send(g, m); })`.
 * Register blocking member handlers with `on("type", &MyConsumer::handler)`; `run_blocking(f)`
 * runs `f` on the pool before the consumer's next event (both shared with WebsocketConsumer).
 */
class SyncConsumer : public detail::BlockingHandlers<AsyncConsumer> {
protected:
    /**
     * From a handler: hands `event` to the server without waiting. Events a handler
     * sends keep their order, and are all sent before the consumer's next handler runs.
     */
    void post_event(Event event);
};

} // namespace canal
