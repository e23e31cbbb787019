// canal-chat: the sample chat server.
//   canal-chat [FLAGS]                                  serve the chats (--help lists the flags:
//                                                       the server's, then the chats' own)
//   canal-chat createuser --users FILE NAME [--staff]   add a multichat user (password on stdin)
//   canal-chat createroom|removeroom --db URL ID ...     change the multichat's rooms
//   canal-chat worker [FLAGS] chat-moderation            the moderation worker (Channels'
//                                                       runworker; --moderation on the server)
#include "chat_app.hpp"
#include "moderation.hpp"
#include "multichat_app.hpp"
#include "seed_chats.hpp"

#include <canal/server/server.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string_view>
#include <system_error>
#include <vector>

namespace chat {

// Where the pages are: $CANAL_CHAT_STATIC, else found relative to this program,
// ../share/canal/chat/static once installed, static/ beside it in the build tree. Empty (and
// a message) when none holds them.
std::filesystem::path static_dir(char const* program) {
    namespace fs = std::filesystem;
    if (char const* env = std::getenv("CANAL_CHAT_STATIC")) {
        return env;
    }
    std::error_code ec;
    auto const self = fs::read_symlink("/proc/self/exe", ec);
    auto const dir = ec ? fs::absolute(program).parent_path() : self.parent_path();
    std::vector<fs::path> const candidates{dir / ".." / "share" / "canal" / "chat" / "static",
                                           dir / "static"};
    for (auto const& candidate : candidates) {
        if (fs::exists(candidate / "room.html", ec)) {
            return fs::weakly_canonical(candidate, ec);
        }
    }
    std::cerr << program << ": cannot find the chat's pages (room.html) in "
              << candidates[0].string() << " or " << candidates[1].string()
              << "; set CANAL_CHAT_STATIC to their directory\n";
    return {};
}

} // namespace chat

int main(int argc, char** argv) {
    if (argc > 1 && std::string_view(argv[1]) == "createuser") {
        return chat::createuser_main(argc - 1, argv + 1); // canal-chat createuser --users F NAME
    }
    if (argc > 1 && (std::string_view(argv[1]) == "createroom" ||
                     std::string_view(argv[1]) == "removeroom")) {
        return chat::room_admin_main({argv + 1, argv + argc}, std::cout, std::cerr);
    }
    if (argc > 1 && std::string_view(argv[1]) == "worker") {
        return chat::worker_main(argc - 1, argv + 1); // canal-chat worker chat-moderation
    }
    std::vector<canal::Settings::Flag> flags{
        {"consumer", "chat consumer style: async (coroutines) or sync (blocking, thread pool)",
         "async"},
        {"moderation",
         "on: send each room chat message to the chat-moderation channel too (run `canal-chat "
         "worker chat-moderation` on the same --layer), and relay its verdicts; or off",
         "off"},
    };
    chat::add_multichat_flags(flags); // --users, --rooms, --sessions...
    auto settings = canal::Settings::from_args(argc, argv, &flags);
    auto const& style = flags[0].value;
    if (style != "async" && style != "sync") {
        std::cerr << argv[0] << ": --consumer must be 'async' or 'sync', not '" << style << "'\n";
        return 2;
    }
    auto const& moderation = flags[1].value;
    if (moderation != "on" && moderation != "off") {
        std::cerr << argv[0] << ": --moderation must be 'on' or 'off', not '" << moderation
                  << "'\n";
        return 2;
    }
    auto const static_dir = chat::static_dir(argv[0]);
    if (static_dir.empty()) {
        return 1;
    }
    auto const consumer_style = style == "sync" ? chat::ConsumerStyle::sync
                                                : chat::ConsumerStyle::async;
    auto app = chat::make_application(
        static_dir, consumer_style,
        chat::allowed_hosts_flag(flags), // /ws/chat/ refuses other sites' pages: HTTP 403
        moderation == "on");
    app = chat::with_multichat(std::move(app), static_dir, flags); // with --users and --rooms
    // /channels/<room>/ (the Flutter client's), /room/<group>/, /room/, /ws/chat/ and /chat.
    app = chat::with_seed_chats(std::move(app), static_dir, consumer_style,
                                chat::allowed_hosts_flag(flags));
    return canal::run(std::move(app), std::move(settings));
}
