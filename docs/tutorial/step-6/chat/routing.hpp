// chat/routing.hpp: the chat's websocket routes (Channels' chat/routing.py), for logged-in
// users.
#pragma once

#include "chat/consumers.hpp"

#include <canal/middleware/auth_middleware.hpp>
#include <canal/middleware/origin_validator.hpp>
#include <canal/routing/url_router.hpp>

#include <memory>

namespace chat {

// The consumer runs behind an origin check, and behind the stack that finds the user
// logged in with the session cookie (scope().user).
inline canal::URLRouter websocket_router(std::shared_ptr<canal::SessionStore> sessions,
                                         std::shared_ptr<canal::UserStore const> users) {
    return canal::URLRouter{{
        canal::path("ws/chat/<str:room_name>/",
                    canal::AllowedHostsOriginValidator(canal::AuthMiddlewareStack(
                        canal::as_app<ChatConsumer>(), std::move(sessions), std::move(users)))),
    }};
}

} // namespace chat
