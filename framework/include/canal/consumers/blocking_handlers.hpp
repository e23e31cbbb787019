// BlockingHandlers: what both sync consumer bases add to theirs: on() for blocking member
// handlers, and run_blocking().
#pragma once

#include <canal/consumers/async_consumer.hpp>
#include <canal/sync/sync_to_async.hpp>

#include <functional>
#include <string>
#include <type_traits>
#include <utility>

namespace canal::detail {

/** Wraps a blocking member handler so that it runs on the handler pool. */
template <typename C>
AsyncConsumer::Handler blocking_handler(C* self, void (C::*fn)(Message const&)) {
    return
        [self, fn](Message const& m) { return sync_to_async([self, fn, m] { (self->*fn)(m); }); };
}

/**
 * The blocking side of a consumer base: SyncConsumer is BlockingHandlers<AsyncConsumer>,
 * WebsocketConsumer is BlockingHandlers<WebsocketBase>.
 */
template <typename Base>
class BlockingHandlers : public Base {
    static_assert(std::is_base_of_v<AsyncConsumer, Base>);

protected:
    using Base::on;

    /** Registers a blocking handler for layer messages of `type`. */
    template <typename C>
    void on(std::string type, void (C::*fn)(Message const&)) {
        static_assert(std::is_base_of_v<BlockingHandlers, C>);
        auto* self = static_cast<C*>(this);
        this->AsyncConsumer::on(type, blocking_handler(self, fn));
        this->on_blocking(std::move(type), [self, fn](Message const& m) { (self->*fn)(m); });
    }

    /** Runs `f` on the handler pool; the consumer's next event waits for it. */
    awaitable<void> run_blocking(std::function<void()> f) { return sync_to_async(std::move(f)); }
};

} // namespace canal::detail
