// ProtocolTypeRouter: picks the application for a scope by its type.
#include <canal/routing/protocol_type_router.hpp>

#include <canal/core/errors.hpp>

#include "core/run_routed.hpp"

#include <exception>
#include <stdexcept>
#include <utility>

namespace canal {

ProtocolTypeRouter::ProtocolTypeRouter(std::map<std::string, Application, std::less<>> apps)
    : apps_(std::make_shared<Table const>(std::move(apps))) {
    // An empty std::function would only fail at the first connection, far from the mistake.
    for (auto const& [type, app] : *apps_) {
        if (!app) {
            throw std::invalid_argument("ProtocolTypeRouter: the application for scope type '" +
                                        type + "' is empty: give it a callable application");
        }
    }
}

Application const* ProtocolTypeRouter::application_for(std::string_view type) const noexcept {
    auto const found = apps_->find(type);
    return found == apps_->end() ? nullptr : &found->second;
}

// Not a coroutine: the lookup happens now and the returned awaitable shares the router's
// table, so it stays valid even if this router is destroyed before it runs.
awaitable<void> ProtocolTypeRouter::operator()(Scope scope, Receive receive, Send send) const {
    try {
        auto const found = apps_->find(scope.type);
        if (found == apps_->end()) {
            std::string known;
            for (auto const& entry : *apps_) {
                known += known.empty() ? "'" : ", '";
                known += entry.first;
                known += '\'';
            }
            throw RouteNotFound("No application configured for scope type '" + scope.type +
                                "': the ProtocolTypeRouter has " +
                                (known.empty() ? std::string("no entries") : known));
        }
        return detail::run_routed(std::shared_ptr<Application const>(apps_, &found->second),
                                  std::move(scope), std::move(receive), std::move(send));
    } catch (...) {
        return detail::fail_routing(std::current_exception());
    }
}

} // namespace canal
