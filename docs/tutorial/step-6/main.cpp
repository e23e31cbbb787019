// mysite: the chat pages and the login page over HTTP, the chat consumer over websockets
// for logged-in users; `mysite createuser NAME` adds a user.
#include "chat/routing.hpp"
#include "chat/views.hpp"

#include <canal/middleware/auth_middleware.hpp>
#include <canal/middleware/json_file_user_store.hpp>
#include <canal/middleware/memory_session_store.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/server/server.hpp>
#include <canal/server/static_files.hpp>

#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

// Adds a user to users.json; the password is read from stdin.
int createuser(std::string const& username) {
    std::cout << "Password: " << std::flush;
    std::string password;
    std::getline(std::cin, password);
    try {
        canal::JsonFileUserStore("users.json").create_user(username, password, false);
    } catch (std::exception const& e) {
        std::cerr << "mysite createuser: " << e.what() << "\n";
        return 1;
    }
    std::cout << "created user '" << username << "' in users.json\n";
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 3 && std::string_view(argv[1]) == "createuser") {
        return createuser(argv[2]);
    }
    auto settings = canal::Settings::from_args(argc, argv);
    std::filesystem::path const static_dir = MYSITE_STATIC_DIR;
    // The users, and the sessions that remember who logged in: one store of each, shared
    // by the HTTP side (the login page) and the websocket side (the chat).
    auto users = std::make_shared<canal::JsonFileUserStore>("users.json");
    auto sessions = std::make_shared<canal::MemorySessionStore>();
    canal::URLRouter http{{
        canal::path("chat/", canal::file_response(static_dir / "index.html")),
        canal::path("chat/<str:room_name>/", canal::file_response(static_dir / "room.html")),
        canal::path("login/", chat::login_view(static_dir / "login.html", users)),
    }};
    canal::ProtocolTypeRouter app{{
        {"http", canal::AuthMiddlewareStack(std::move(http), sessions, users)},
        {"websocket", chat::websocket_router(sessions, users)},
    }};
    return canal::run(std::move(app), std::move(settings));
}
