// ProtocolTypeRouter: routes a scope by its type ("http", "websocket", "channel") to an
// application.
#pragma once

#include <canal/core/application.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace canal {

/**
 * Picks the application for a scope by `scope.type` (channels.routing.ProtocolTypeRouter).
 * A type with no entry throws RouteNotFound (HTTP 404).
 */
class ProtocolTypeRouter {
public:
    /** `apps` maps a scope type (`"http"`, `"websocket"`) to its application. */
    explicit ProtocolTypeRouter(std::map<std::string, Application, std::less<>> apps);

    /**
     * Copies share the routes (they never change). A "moved" router is copied, so that it
     * still routes.
     */
    ProtocolTypeRouter(ProtocolTypeRouter const&) = default;
    /** As the copy constructor: shares `other`'s routes. */
    ProtocolTypeRouter& operator=(ProtocolTypeRouter const& other) = default;
    /** Lets go of this copy's share of the routes. */
    ~ProtocolTypeRouter() = default;

    /** Runs the application of `scope.type`; throws RouteNotFound when there is none. */
    awaitable<void> operator()(Scope scope, Receive receive, Send send) const;

    /** The application for scope type `type`, or nullptr (e.g. a worker checking `"channel"`). */
    [[nodiscard]] Application const* application_for(std::string_view type) const noexcept;

private:
    using Table = std::map<std::string, Application, std::less<>>;
    // Shared by the router's copies: a connection's awaitable keeps it alive without a copy.
    std::shared_ptr<Table const> apps_;
};

} // namespace canal
