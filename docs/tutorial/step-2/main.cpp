// mysite: the chat lobby and room pages over HTTP, the chat consumer over websockets.
#include "chat/routing.hpp"

#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/server/server.hpp>
#include <canal/server/static_files.hpp>

#include <filesystem>

int main(int argc, char** argv) {
    std::filesystem::path const static_dir = MYSITE_STATIC_DIR;
    canal::URLRouter http{{
        canal::path("chat/", canal::file_response(static_dir / "index.html")),
        canal::path("chat/<str:room_name>/", canal::file_response(static_dir / "room.html")),
    }};
    canal::ProtocolTypeRouter app{{
        {"http", std::move(http)},
        {"websocket", chat::websocket_router()},
    }};
    return canal::run(std::move(app), canal::Settings::from_args(argc, argv));
}
