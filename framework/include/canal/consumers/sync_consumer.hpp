// SyncConsumer: a consumer whose layer message handlers are plain blocking functions.
#pragma once

#include <canal/consumers/async_consumer.hpp>
#include <canal/sync/async_to_sync.hpp>
#include <canal/sync/sync_to_async.hpp>

#include <type_traits>

namespace canal {

namespace detail {
/** Wraps a blocking member handler so that it runs on the handler pool. */
template <typename C>
AsyncConsumer::Handler blocking_handler(C* self, void (C::*fn)(Message const&)) {
    return [self, fn](Message const& m) {
        return sync_to_async([self, fn, m] { (self->*fn)(m); });
    };
}
} // namespace detail

/**
 * Base of the blocking consumers (channels.consumer.SyncConsumer).
 *
 * The consumer's inbox is the same as AsyncConsumer's, but each handler runs on the
 * handler thread pool: a handler may block (a database call, a file) without stalling the
 * I/O threads. One consumer's handlers never overlap and run in arrival order; different
 * consumers' handlers run in parallel on the pool (unlike Channels, where all sync
 * consumers of a process share one thread). From a handler, reach async APIs with
 * async_to_sync(), e.g. `async_to_sync([&] { return channel_layer().group_send(g, m); })`.
 */
class SyncConsumer : public AsyncConsumer {
protected:
    using AsyncConsumer::on;

    /** Registers a blocking handler for layer messages of `type`. */
    template <typename C>
    void on(std::string type, void (C::*fn)(Message const&)) {
        static_assert(std::is_base_of_v<SyncConsumer, C>);
        auto* self = static_cast<C*>(this);
        AsyncConsumer::on(type, detail::blocking_handler(self, fn));
        on_blocking(std::move(type), [self, fn](Message const& m) { (self->*fn)(m); });
    }

    /** Runs `f` on the handler pool; the consumer's next event waits for it. */
    awaitable<void> run_blocking(std::function<void()> f) { return sync_to_async(std::move(f)); }

    /**
     * From a handler: hands `event` to the server without waiting. Events a handler
     * sends keep their order, and are all sent before the consumer's next handler runs.
     */
    void post_event(Event event);
};

} // namespace canal
