// canal-chat's multichat flags: --users, --rooms, --sessions, --allowed-hosts...
#include "multichat_app.hpp"

#include <canal/core/errors.hpp>
#include <canal/middleware/json_file_user_store.hpp>
#include <canal/middleware/memory_session_store.hpp>
#include <canal/middleware/redis_session_store.hpp>
#include <canal/redis/client.hpp>

#include <iostream>
#include <stdexcept>
#include <utility>

namespace chat {

// --- canal-chat flags -------------------------------------------------------------------

namespace {

std::string const& flag(std::vector<canal::Settings::Flag> const& flags, std::string_view name) {
    for (auto const& f : flags) {
        if (f.name == name) {
            return f.value;
        }
    }
    static std::string const none;
    return none;
}

std::vector<std::string> split_commas(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        auto const comma = s.find(',');
        auto item = s.substr(0, comma);
        if (!item.empty()) {
            out.emplace_back(item);
        }
        s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    }
    return out;
}

} // namespace

void add_multichat_flags(std::vector<canal::Settings::Flag>& flags) {
    flags.push_back({"users", "multichat: users file (JSON; see `canal-chat createuser`)", ""});
    flags.push_back({"rooms", "multichat: rooms file (JSON list of {id, title, staff_only})", ""});
    flags.push_back({"allowed-hosts",
                     "comma-separated hosts the websockets of both chats may come from "
                     "(empty: localhost, 127.0.0.1, [::1]; *: any)",
                     ""});
    flags.push_back({"sessions",
                     "multichat: where sessions live: memory, or redis://HOST[:PORT][/DB] "
                     "with [[USER]:PASSWORD@] before HOST if need be (shared by several "
                     "canal-chat processes)",
                     "memory"});
    flags.push_back({"room-notifications",
                     "multichat: tell room members who enters and leaves "
                     "(on or off)",
                     "on"});
}

std::vector<std::string> allowed_hosts_flag(std::vector<canal::Settings::Flag> const& flags) {
    return split_commas(flag(flags, "allowed-hosts"));
}

canal::Application with_multichat(canal::Application app, std::filesystem::path const& static_dir,
                                  std::vector<canal::Settings::Flag> const& flags,
                                  std::shared_ptr<canal::SessionStore> sessions) {
    auto const& users = flag(flags, "users");
    auto const& rooms = flag(flags, "rooms");
    if (users.empty() && rooms.empty()) {
        return app;
    }
    auto const fail = [](std::string const& why) {
        std::cerr << "canal-chat: " << why << "\n";
        std::exit(2);
    };
    if (users.empty() || rooms.empty()) {
        fail("the multichat needs both --users FILE and --rooms FILE");
    }
    auto const& notify = flag(flags, "room-notifications");
    if (notify != "on" && notify != "off") {
        fail("--room-notifications must be 'on' or 'off', not '" + notify + "'");
    }
    MultichatOptions options;
    try {
        options.users = std::make_shared<canal::JsonFileUserStore>(users);
        options.rooms = std::make_shared<RoomList const>(RoomList::load(rooms));
    } catch (std::exception const& e) {
        fail(e.what());
    }
    options.sessions = std::move(sessions);
    auto const& where = flag(flags, "sessions");
    if (!options.sessions && where != "memory") {
        try {
            auto client = std::make_shared<canal::redis::Client>(canal::redis::Url::parse(where));
            options.sessions = std::make_shared<canal::RedisSessionStore>(std::move(client));
        } catch (std::exception const& e) {
            fail("--sessions must be 'memory' or a redis:// URL: " + std::string(e.what()));
        }
    }
    options.allowed_hosts = allowed_hosts_flag(flags);
    options.notify_enter_leave = notify == "on";
    options.style = flag(flags, "consumer") == "sync" ? ConsumerStyle::sync : ConsumerStyle::async;
    return make_multichat_application(static_dir, std::move(options), std::move(app));
}

} // namespace chat
