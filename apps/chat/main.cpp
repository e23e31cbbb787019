// canal-chat: the sample chat server.  canal-chat [--host H] [--port P] [--threads N]
#include "chat_app.hpp"

#include <canal/server/server.hpp>

#include <cstdlib>
#include <filesystem>

int main(int argc, char** argv) {
    auto settings = canal::Settings::from_args(argc, argv);
    // The pages ship next to the sources; CANAL_CHAT_STATIC overrides for installed copies.
    std::filesystem::path static_dir = CANAL_CHAT_STATIC_DIR;
    if (char const* env = std::getenv("CANAL_CHAT_STATIC")) {
        static_dir = env;
    }
    return canal::run(chat::make_application(static_dir), std::move(settings));
}
