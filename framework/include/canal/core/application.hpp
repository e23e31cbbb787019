// Application: the coroutine the server runs once per connection (ASGI's application).
#pragma once

#include <canal/core/event.hpp>
#include <canal/core/net.hpp>
#include <canal/core/scope.hpp>

#include <functional>

namespace canal {

/** Waits for the next event from the client. */
using Receive = std::function<awaitable<Event>()>;

/** Hands an event to the server (accept, send, close, HTTP response parts). */
using Send = std::function<awaitable<void>(Event)>;

/**
 * An application instance: runs for the lifetime of one connection.
 *
 * The server calls it on the connection's strand. It returns when the connection is
 * done; an exception ends the connection (websocket: close 1011; before accept: HTTP 500,
 * or 404 for RouteNotFound).
 *
 * Whoever calls an application keeps that Application object alive until the returned
 * awaitable has completed (the server, the routers and the communicators do): the coroutine
 * it returns may refer to it, as middleware does.
 */
using Application = std::function<awaitable<void>(Scope, Receive, Send)>;

} // namespace canal
