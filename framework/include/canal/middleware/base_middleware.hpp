// BaseMiddleware: an application that changes a copy of the scope and runs an inner one.
#pragma once

#include <canal/core/application.hpp>

namespace canal {

/**
 * Base of middleware (channels.middleware.BaseMiddleware): wraps an inner application;
 * each connection's scope is copied, passed through populate_scope(), and handed to the
 * inner application with the same receive and send.
 *
 * A middleware object serves every connection: keep per-connection state in the scope,
 * never in members. Subclasses that need more than a scope change override call().
 *
 * @par Thread safety
 * operator() may run concurrently for different connections; populate_scope() and call()
 * must be safe for that (const, no mutable members without a lock).
 */
class BaseMiddleware {
public:
    /** Wraps `inner`; throws std::invalid_argument when it is empty. */
    explicit BaseMiddleware(Application inner);
    virtual ~BaseMiddleware() = default;

    /** Runs the middleware for one connection (the Application signature). */
    awaitable<void> operator()(Scope scope, Receive receive, Send send) const;

protected:
    /** Changes the connection's copy of the scope. Default: nothing. */
    virtual awaitable<void> populate_scope(Scope& scope) const;
    /** Runs populate_scope(), then the inner application. Override to wrap receive or send. */
    virtual awaitable<void> call(Scope scope, Receive receive, Send send) const;
    /** The wrapped application. */
    [[nodiscard]] Application const& inner() const noexcept { return inner_; }

private:
    Application inner_;
};

} // namespace canal
