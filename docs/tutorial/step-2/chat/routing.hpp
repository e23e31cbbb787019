// chat/routing.hpp: the chat's websocket routes (Channels' chat/routing.py).
#pragma once

#include "chat/consumers.hpp"

#include <canal/routing/url_router.hpp>

namespace chat {

inline canal::URLRouter websocket_router() {
    return canal::URLRouter{{
        canal::path("ws/chat/<str:room_name>/", canal::as_app<ChatConsumer>()),
    }};
}

} // namespace chat
