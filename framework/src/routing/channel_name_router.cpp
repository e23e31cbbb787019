// ChannelNameRouter: picks a worker's application by the scope's channel name.
#include <canal/routing/channel_name_router.hpp>

#include <canal/core/errors.hpp>
#include <canal/layers/channel_layer.hpp>

#include "core/run_routed.hpp"
#include "detail/ascii.hpp"

#include <exception>
#include <stdexcept>
#include <utility>

namespace canal {

ChannelNameRouter::ChannelNameRouter(std::map<std::string, Application, std::less<>> apps)
    : apps_(std::make_shared<Table const>(std::move(apps))) {
    for (auto const& [channel, app] : *apps_) {
        if (!app) {
            throw std::invalid_argument("ChannelNameRouter: the application for channel '" +
                                        channel + "' is empty: give it a callable application");
        }
        if (!ChannelLayer::is_valid_channel_name(channel) ||
            channel.find('!') != std::string::npos) {
            throw std::invalid_argument(
                "ChannelNameRouter: '" + channel +
                "' is not a channel a worker can listen on: use ASCII letters, digits, '-', "
                "'_' and '.' (no '!'), under 100 characters");
        }
    }
}

bool ChannelNameRouter::routes(std::string_view channel) const noexcept {
    return apps_->find(channel) != apps_->end();
}

std::vector<std::string> ChannelNameRouter::channels() const {
    std::vector<std::string> names;
    for (auto const& entry : *apps_) {
        names.push_back(entry.first);
    }
    return names;
}

// Not a coroutine: the lookup happens now and the returned awaitable shares the router's
// table (as ProtocolTypeRouter).
awaitable<void> ChannelNameRouter::operator()(Scope scope, Receive receive, Send send) const {
    try {
        if (scope.type != "channel" || scope.channel.empty()) {
            throw RouteNotFound("ChannelNameRouter got a '" + scope.type +
                                "' scope without a channel: use it for the \"channel\" scopes "
                                "of a worker only (under ProtocolTypeRouter's \"channel\")");
        }
        auto const found = apps_->find(scope.channel);
        if (found == apps_->end()) {
            throw RouteNotFound("No application configured for channel name '" + scope.channel +
                                "': the ChannelNameRouter routes " + detail::quoted_list(channels()));
        }
        return detail::run_routed(std::shared_ptr<Application const>(apps_, &found->second),
                                  std::move(scope), std::move(receive), std::move(send));
    } catch (...) {
        return detail::fail_routing(std::current_exception());
    }
}

} // namespace canal
