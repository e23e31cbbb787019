// BaseMiddleware: copy the scope, change it, run the inner application.
#include <canal/middleware/base_middleware.hpp>

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

awaitable<void> BaseMiddleware::call(Scope scope, Receive receive, Send send) const {
    co_await populate_scope(scope);
    co_await inner_(std::move(scope), std::move(receive), std::move(send));
}

} // namespace canal
