// Fuzz target: the multichat protocol. A logged-in client sends JSON commands over its one
// websocket (join, leave, send, who, and the store's commands, answered NO_STORAGE here);
// MultichatConsumer parses them against the room list
// (parse_command) and answers, and room events come back as room_event_text(). Input: one
// client frame per line, sent in order to a MultichatConsumer (async, or sync when the
// first byte is odd), driven by WebsocketCommunicator.
//
// Every answer is a JSON object with "join", "leave", "who", "error" or "msg_type"; an error is one
// of the documented codes; the consumer keeps answering (a final join is answered).
#include "multichat_app.hpp"

#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include "fuzz_input.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <iterator>
#include <memory>
#include <string_view>
#include <string>

namespace {

using namespace std::chrono_literals;

std::shared_ptr<chat::RoomList const> rooms() {
    static auto const list = std::make_shared<chat::RoomList const>(
        chat::RoomList::from_json(boost::json::parse(R"([
            {"id": 1, "title": "Lobby"},
            {"id": "two", "title": "Two"},
            {"id": 3, "title": "Staff", "staff_only": true},
            {"id": "last", "title": "Last room"}
        ])")));
    return list;
}

void check_answer(std::string const& text) {
    boost::system::error_code ec;
    auto const value = boost::json::parse(text, ec);
    auto const* obj = value.if_object();
    if (ec || obj == nullptr) {
        canal::fuzz::broken("the multichat sent something that is not a JSON object");
    }
    if (auto const* error = obj->if_contains("error")) {
        // docs/multichat-protocol.md's codes; without a store the message and storage ones
        // other than NO_STORAGE cannot happen.
        static constexpr std::string_view documented[] = {
            "ROOM_INVALID", "ROOM_ACCESS_DENIED", "COMMAND_INVALID", "ROOM_EXISTS", "NO_STORAGE"};
        auto const* code = error->if_string();
        if (code == nullptr ||
            std::find(std::begin(documented), std::end(documented), std::string_view(*code)) ==
                std::end(documented)) {
            canal::fuzz::broken("the multichat sent an undocumented error");
        }
    } else if (!obj->contains("join") && !obj->contains("leave") && !obj->contains("who") &&
               !obj->contains("msg_type")) {
        canal::fuzz::broken("the multichat sent an answer of no documented kind");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    bool const sync = (data[0] & 1) != 0;
    auto const lines = canal::fuzz::split(canal::fuzz::text(data + 1, size - 1));
    if (lines.size() > 16) {
        return 0; // enough for any sequence of joins, sends and leaves
    }
    // The sans-I/O half: parse_command() on each line.
    for (auto const& line : lines) {
        boost::system::error_code ec;
        auto const value = boost::json::parse(line, ec);
        if (ec) {
            continue;
        }
        auto const command = chat::parse_command(*rooms(), value);
        using Kind = chat::MultichatCommand::Kind;
        // A valid command names an existing room, or (create_room) a new one it can make.
        bool const named = command.kind == Kind::create_room
                               ? command.new_room.has_value() &&
                                     rooms()->find_key(command.new_room->key) == nullptr
                               : command.room != nullptr;
        if ((command.kind == Kind::invalid) == command.error.empty() ||
            (command.kind != Kind::invalid && !named)) {
            canal::fuzz::broken("parse_command() gave a command without a room or an error");
        }
    }

    canal::Scope scope;
    scope.channel_layer = std::make_shared<canal::InMemoryChannelLayer>();
    scope.user = std::make_shared<canal::User const>(canal::User{"alice", false});
    auto app = sync ? canal::as_app<chat::SyncMultichatConsumer>(rooms(), true)
                    : canal::as_app<chat::MultichatConsumer>(rooms(), true);
    canal::WebsocketCommunicator ws(std::move(app), "/chat/stream/", scope);
    if (!ws.connect(5s).accepted) {
        canal::fuzz::broken("the multichat refused a logged-in user");
    }
    for (auto const& line : lines) {
        ws.send_to(std::string(line));
    }
    ws.send_to(R"({"command": "join", "room": "last"})");
    for (int i = 0; i < 64; ++i) {
        auto event = ws.receive_output(5s);
        if (auto const* close = std::get_if<canal::WebsocketClose>(&event)) {
            if (close->code != 1007 && close->code != 1011) {
                canal::fuzz::broken("the multichat closed with an undocumented code");
            }
            return 0;
        }
        auto const* send = std::get_if<canal::WebsocketSend>(&event);
        if (send == nullptr || !send->data) {
            canal::fuzz::broken("the multichat sent something other than a message or a close");
        }
        check_answer(*send->data);
        if (send->data->find(R"("title":"Last room")") != std::string::npos) {
            ws.disconnect();
            return 0;
        }
    }
    canal::fuzz::broken("no answer to the final join among 64 messages");
}
