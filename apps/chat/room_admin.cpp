// canal-chat createroom / removeroom: change the multichat's rooms in its database, and tell
// the running servers' users at once through a shared channel layer (--layer redis://...).
#include "multichat_app.hpp"

#include <canal/layers/make_channel_layer.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <filesystem>
#include <iostream>

namespace chat {

namespace {

struct Args {
    std::string db;
    std::string rooms;
    std::string layer;
    std::vector<std::string> positional;
    bool staff_only = false;
};

/** `42` is the room 42, anything else a string id, as in the rooms file. */
boost::json::value room_id(std::string const& text) {
    bool const digits = !text.empty() && text.size() < 19 &&
                        text.find_first_not_of("0123456789") == std::string::npos;
    if (digits) {
        return std::stoll(text);
    }
    return boost::json::string(text);
}

canal::awaitable<void> send_to_rooms_group(std::shared_ptr<canal::ChannelLayer> layer,
                                          canal::Message event) {
    co_await layer->group_send(rooms_group, std::move(event));
}

void announce(std::string const& layer_url, canal::Message event) {
    std::vector<std::string> const urls{layer_url};
    auto layer = canal::make_channel_layer(urls);
    boost::asio::io_context ioc;
    auto done = boost::asio::co_spawn(ioc, send_to_rooms_group(layer, std::move(event)),
                                      boost::asio::use_future);
    ioc.run();
    done.get();
}

} // namespace

int room_admin_main(std::vector<std::string> const& args, std::ostream& out, std::ostream& err) {
    bool const create = !args.empty() && args[0] == "createroom";
    std::string const name = create ? "createroom" : "removeroom";
    std::string const usage =
        create ? "usage: canal-chat createroom (--db URL | --rooms FILE) [--layer URL] ID TITLE "
                 "[--staff-only]\n"
               : "usage: canal-chat removeroom (--db URL | --rooms FILE) [--layer URL] ID\n";
    std::string const help =
        usage +
        "  --db URL      the multichat's database (sqlite:///PATH or postgresql://...)\n"
        "  --rooms FILE  or the rooms file whose default database (multichat.sqlite3) to use\n"
        "  --layer URL   the servers' Redis channel layer: their users see the change at once\n"
        "                (without it, at their next connection or page load)\n";
    Args a;
    for (std::size_t i = 1; i < args.size(); ++i) {
        auto const& arg = args[i];
        auto const value = [&](char const* flag, std::string& into) {
            if (arg == flag && i + 1 < args.size()) {
                into = args[++i];
                return true;
            }
            auto const prefix = std::string(flag) + "=";
            if (arg.rfind(prefix, 0) == 0) {
                into = arg.substr(prefix.size());
                return true;
            }
            return false;
        };
        if (value("--db", a.db) || value("--rooms", a.rooms) || value("--layer", a.layer)) {
            continue;
        }
        if (arg == "-h" || arg == "--help") {
            out << help;
            return 0;
        }
        if (create && arg == "--staff-only") {
            a.staff_only = true;
        } else if (!arg.empty() && arg[0] != '-') {
            a.positional.push_back(arg);
        } else {
            err << "canal-chat " << name << ": unexpected argument '" << arg << "'\n" << usage;
            return 2;
        }
    }
    if (a.positional.size() != (create ? 2U : 1U) || (a.db.empty() == a.rooms.empty())) {
        err << usage;
        return 2;
    }
    if (a.db.empty()) {
        auto const dir = std::filesystem::absolute(a.rooms).parent_path();
        a.db = "sqlite://" + (dir / "multichat.sqlite3").string();
    }
    Room room;
    try {
        room = RoomList::make_room(room_id(a.positional[0]), create ? a.positional[1] : "",
                                   a.staff_only);
    } catch (std::invalid_argument const& e) {
        err << "canal-chat " << name << ": " << e.what() << "\n";
        return 2;
    }
    try {
        auto store = ChatStore::open(a.db);
        if (create) {
            StoredRoom row{boost::json::serialize(room.id), room.key, room.title, room.staff_only};
            if (!store->create_room(row)) {
                err << "canal-chat createroom: room '" << room.key << "' exists already\n";
                return 1;
            }
        } else if (!store->remove_room(room.key)) {
            err << "canal-chat removeroom: there is no room '" << room.key << "'\n";
            return 1;
        }
        out << (create ? "created room '" : "removed room '") << room.key << "'\n";
        if (!a.layer.empty()) {
            announce(a.layer, room_list_event(create ? "rooms.added" : "rooms.removed", room));
            out << "told the servers on " << a.layer << "\n";
        }
    } catch (std::invalid_argument const& e) {
        err << "canal-chat " << name << ": " << e.what() << "\n";
        return 2;
    } catch (std::exception const& e) {
        err << "canal-chat " << name << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}

} // namespace chat
