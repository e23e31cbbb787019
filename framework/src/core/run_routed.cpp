// Internal: running an application a router (or a communicator) has picked, and the
// awaitable that carries a routing failure to where it is awaited.
#include "core/run_routed.hpp"

#include "core/event_source.hpp"

#include <memory>
#include <utility>

namespace canal::detail {

namespace {
// The frame of a connection's whole life: kept small (the application and the scope are not
// in it; the scope lives in the application's own frame).
awaitable<void> hold(std::shared_ptr<Application const> /*app: owned while it runs*/,
                     awaitable<void> inner) {
    co_await std::move(inner);
}
} // namespace

// Not a coroutine: the application is called now; the returned awaitable shares its
// ownership.
awaitable<void> run_routed(std::shared_ptr<Application const> app, Scope scope, Receive receive,
                           Send send) {
    try {
        if (auto const* direct = receive.target<SourceReceive>()) {
            // A server's connection: it keeps the entry until the application has ended.
            direct->source->hold(app);
            return (*app)(std::move(scope), std::move(receive), std::move(send));
        }
        auto inner = (*app)(std::move(scope), std::move(receive), std::move(send));
        return hold(std::move(app), std::move(inner));
    } catch (...) {
        return fail_routing(std::current_exception());
    }
}

awaitable<void> call_app(Application const& app, std::unique_ptr<Scope> scope, Receive receive,
                         Send send) {
    try {
        return app(std::move(*scope), std::move(receive), std::move(send));
    } catch (...) {
        return fail_routing(std::current_exception());
    }
}

awaitable<void> fail_routing(std::exception_ptr error) {
    std::rethrow_exception(std::move(error));
    co_return;
}

} // namespace canal::detail
