// Internal: running an application a router (or a communicator) has picked, and the
// awaitable that carries a routing failure to where it is awaited.
#pragma once

#include <canal/core/application.hpp>

#include <exception>
#include <memory>

namespace canal::detail {

/**
 * Runs `*app` with the scope. `app` (a router's table entry, or a communicator's copy) stays
 * alive until the returned awaitable has completed, so that it does not depend on the router
 * that chose it: a server's websocket keeps it (EventSource::hold), anything else shares it
 * with the returned awaitable.
 */
awaitable<void> run_routed(std::shared_ptr<Application const> app, Scope scope, Receive receive,
                           Send send);

/**
 * Calls `app` (which must outlive the returned awaitable) with `*scope`, moved. Not a
 * coroutine: a middleware that awaited something first hands the scope on through this, so
 * that no frame lasting as long as the connection keeps a Scope.
 */
awaitable<void> call_app(Application const& app, std::unique_ptr<Scope> scope, Receive receive,
                         Send send);

/** An awaitable that throws `error` when awaited: routing failures surface where awaited. */
awaitable<void> fail_routing(std::exception_ptr error);

} // namespace canal::detail
