// ChannelNameRouter: routes a worker's "channel" scope by its channel name to an application.
#pragma once

#include <canal/core/application.hpp>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace canal {

/**
 * Picks the application for a `"channel"` scope by `scope.channel`
 * (channels.routing.ChannelNameRouter): the router of a worker (run_worker()), usually
 * under the `"channel"` entry of a ProtocolTypeRouter.
 *
 * A scope that is not a `"channel"` scope, or a channel with no entry, throws RouteNotFound
 * naming the channel and the channels it routes. run_worker() checks its channels against
 * the router before it starts.
 */
class ChannelNameRouter {
public:
    /**
     * `apps` maps a channel name (e.g. `"chat-moderation"`) to its application. Throws
     * std::invalid_argument for an empty application or a name that is not a valid channel
     * name for a worker (ASCII letters, digits, `-`, `_`, `.`, no `!`, under 100 characters).
     */
    explicit ChannelNameRouter(std::map<std::string, Application, std::less<>> apps);

    /**
     * Copies share the routes (they never change). A "moved" router is copied, so that it
     * still routes.
     */
    ChannelNameRouter(ChannelNameRouter const&) = default;
    /** As the copy constructor: shares `other`'s routes. */
    ChannelNameRouter& operator=(ChannelNameRouter const& other) = default;
    /** Lets go of this copy's share of the routes. */
    ~ChannelNameRouter() = default;

    /** Runs the application of `scope.channel`; throws RouteNotFound when there is none. */
    awaitable<void> operator()(Scope scope, Receive receive, Send send) const;

    /** True when `channel` has an application. */
    [[nodiscard]] bool routes(std::string_view channel) const noexcept;

    /** The channels it routes, sorted. */
    [[nodiscard]] std::vector<std::string> channels() const;

private:
    using Table = std::map<std::string, Application, std::less<>>;
    // Shared by the router's copies (see ProtocolTypeRouter).
    std::shared_ptr<Table const> apps_;
};

} // namespace canal
