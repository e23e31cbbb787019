// BaseMiddleware: copy the scope, change it, run the inner application.
#include <canal/middleware/base_middleware.hpp>

#include "core/run_routed.hpp"

#include <memory>
#include <stdexcept>
#include <utility>

namespace canal {

BaseMiddleware::BaseMiddleware(Application inner) : inner_(std::move(inner)) {
    // An empty std::function would only fail at the first connection, far from the mistake.
    if (!inner_) {
        throw std::invalid_argument("middleware: the inner application is empty: give it a "
                                    "callable application");
    }
}

awaitable<void> BaseMiddleware::operator()(Scope scope, Receive receive, Send send) const {
    return call(std::move(scope), std::move(receive), std::move(send));
}

awaitable<void> BaseMiddleware::populate_scope(Scope& /*scope*/) const { co_return; }

namespace {
// The frame that lasts as long as the connection holds a pointer, not a Scope.
awaitable<void> populate_then_call(BaseMiddleware const& self, Application const& inner,
                                   awaitable<void> (BaseMiddleware::*populate)(Scope&) const,
                                   std::unique_ptr<Scope> scope, Receive receive, Send send) {
    co_await (self.*populate)(*scope);
    co_await detail::call_app(inner, std::move(scope), std::move(receive), std::move(send));
}
} // namespace

// Not a coroutine: the scope goes to the heap rather than into a frame of its size.
awaitable<void> BaseMiddleware::call(Scope scope, Receive receive, Send send) const {
    return populate_then_call(*this, inner_, &BaseMiddleware::populate_scope,
                              std::make_unique<Scope>(std::move(scope)), std::move(receive),
                              std::move(send));
}

} // namespace canal
