// The seeds' small chats (see seed_chats.hpp).
#include "seed_chats.hpp"

#include <canal/core/errors.hpp>
#include <canal/middleware/origin_validator.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/server/static_files.hpp>
#include <canal/sync/async_to_sync.hpp>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <iostream>
#include <memory>
#include <mutex>

namespace chat {

// --- /room/<group>/ ------------------------------------------------------------------------

GroupChatConsumer::GroupChatConsumer() { on("call", &GroupChatConsumer::call); }

void GroupChatConsumer::websocket_connect(canal::WebsocketConnect const& /*message*/) {
    auto const& kwargs = scope().url_route.kwargs;
    auto it = kwargs.find("group");
    if (it == kwargs.end() || !canal::ChannelLayer::is_valid_group_name(it->second)) {
        throw canal::DenyConnection("group name is not allowed: use ASCII letters, digits, "
                                    "'-', '_' and '.', under 100 characters");
    }
    accept();
    group_ = it->second;
    canal::async_to_sync([&] { return channel_layer().group_add(group_, channel_name()); });
}

void GroupChatConsumer::websocket_receive(canal::WebsocketReceive message) {
    if (!message.binary && message.data == "exit") {
        // The server may close too: the consumer leaves its group, then stops.
        canal::async_to_sync([&] { return channel_layer().group_discard(group_, channel_name()); });
        group_.clear();
        close();
        throw canal::StopConsumer();
    }
    boost::json::object received{{"type", "websocket.receive"}};
    received[message.binary ? "bytes" : "text"] = std::move(message.data);
    canal::Message event{{"type", "call"}, {"msg", std::move(received)}};
    canal::async_to_sync([&] { return channel_layer().group_send(group_, event); });
}

void GroupChatConsumer::call(canal::Message const& event) {
    auto const& msg = event.at("msg").as_object();
    if (auto const* text = msg.if_contains("text")) {
        send(std::string(text->as_string()));
    } else if (auto const* bytes = msg.if_contains("bytes")) {
        send_bytes(std::string(bytes->as_string()));
    }
}

void GroupChatConsumer::websocket_disconnect(canal::WebsocketDisconnect const& /*message*/) {
    if (!group_.empty()) {
        canal::async_to_sync([&] { return channel_layer().group_discard(group_, channel_name()); });
    }
    throw canal::StopConsumer();
}

// --- /room/ --------------------------------------------------------------------------------

namespace {
// The process's connections, by channel name.
struct ConnectionList {
    std::mutex mutex;
    std::vector<std::string> channels;
};

ConnectionList& connections() {
    static ConnectionList list;
    return list;
}
} // namespace

ConnectionListConsumer::ConnectionListConsumer() { on("relay", &ConnectionListConsumer::relay); }

void ConnectionListConsumer::websocket_connect(canal::WebsocketConnect const& /*message*/) {
    accept();
    auto& list = connections();
    std::lock_guard lock(list.mutex);
    list.channels.push_back(channel_name());
}

void ConnectionListConsumer::websocket_receive(canal::WebsocketReceive message) {
    if (message.binary) {
        return;
    }
    std::vector<std::string> targets;
    {
        auto& list = connections();
        std::lock_guard lock(list.mutex);
        targets = list.channels;
    }
    canal::Message event{{"type", "relay"}, {"text", message.data + "..."}};
    for (auto const& target : targets) {
        try {
            canal::async_to_sync([&] { return channel_layer().send(target, event); });
        } catch (canal::ChannelFull const&) {
            std::clog << "canal-chat: /room/: connection " << target
                      << " missed a message: its channel is full\n";
        }
    }
}

void ConnectionListConsumer::relay(canal::Message const& event) {
    send(std::string(event.at("text").as_string()));
}

void ConnectionListConsumer::websocket_disconnect(canal::WebsocketDisconnect const& /*message*/) {
    {
        auto& list = connections();
        std::lock_guard lock(list.mutex);
        std::erase(list.channels, channel_name());
    }
    throw canal::StopConsumer();
}

// --- /ws/chat/ -----------------------------------------------------------------------------

namespace {
boost::json::string const* text_of(boost::json::value const& content) {
    auto const* obj = content.if_object();
    auto const* message = obj != nullptr ? obj->if_contains("message") : nullptr;
    return message != nullptr ? message->if_string() : nullptr;
}

boost::json::object prefixed(canal::Message const& event) {
    std::string text = one_room_prefix;
    text += event.at("message").as_string();
    return boost::json::object{{"message", std::move(text)}};
}

char const* const expected_text = "expected {\"message\": TEXT}";
} // namespace

OneRoomChatConsumer::OneRoomChatConsumer() {
    on("chat_message", &OneRoomChatConsumer::chat_message);
}

void OneRoomChatConsumer::connect() {
    canal::async_to_sync([&] { return channel_layer().group_add(one_room_group, channel_name()); });
    accept();
}

void OneRoomChatConsumer::disconnect(int /*code*/) {
    canal::async_to_sync(
        [&] { return channel_layer().group_discard(one_room_group, channel_name()); });
}

void OneRoomChatConsumer::receive_json(boost::json::value content) {
    auto const* text = text_of(content);
    if (text == nullptr) {
        send_json(boost::json::object{{"error", expected_text}});
        return;
    }
    canal::Message event{{"type", "chat_message"}, {"message", *text}};
    canal::async_to_sync([&] { return channel_layer().group_send(one_room_group, event); });
}

void OneRoomChatConsumer::chat_message(canal::Message const& event) {
    send_json(prefixed(event));
}

AsyncOneRoomChatConsumer::AsyncOneRoomChatConsumer() {
    on("chat_message", &AsyncOneRoomChatConsumer::chat_message);
}

canal::awaitable<void> AsyncOneRoomChatConsumer::connect() {
    std::string const group = one_room_group;
    co_await channel_layer().group_add(group, channel_name());
    co_await accept();
}

canal::awaitable<void> AsyncOneRoomChatConsumer::disconnect(int /*code*/) {
    std::string const group = one_room_group;
    co_await channel_layer().group_discard(group, channel_name());
}

canal::awaitable<void> AsyncOneRoomChatConsumer::receive_json(boost::json::value content) {
    auto const* text = text_of(content);
    if (text == nullptr) {
        boost::json::object error{{"error", expected_text}};
        co_await send_json(std::move(error));
        co_return;
    }
    canal::Message event{{"type", "chat_message"}, {"message", *text}};
    std::string const group = one_room_group;
    co_await channel_layer().group_send(group, std::move(event));
}

canal::awaitable<void> AsyncOneRoomChatConsumer::chat_message(canal::Message const& event) {
    auto out = prefixed(event);
    co_await send_json(std::move(out));
}

// --- routes --------------------------------------------------------------------------------

canal::Application with_seed_chats(canal::Application app, std::filesystem::path const& static_dir,
                                   ConsumerStyle style, std::vector<std::string> allowed_hosts) {
    bool const sync = style == ConsumerStyle::sync;
    auto http = std::make_shared<canal::URLRouter const>(std::vector<canal::Route>{
        canal::path("chat", canal::file_response(static_dir / "one_room.html")),
    });
    auto flutter = std::make_shared<canal::URLRouter const>(std::vector<canal::Route>{
        canal::path("channels/<str:room_name>/", sync ? canal::as_app<SyncChatConsumer>()
                                                      : canal::as_app<ChatConsumer>()),
    });
    auto websocket = std::make_shared<canal::URLRouter const>(std::vector<canal::Route>{
        canal::path("room/", canal::as_app<ConnectionListConsumer>()),
        canal::path("room/<str:group>/", canal::as_app<GroupChatConsumer>()),
        canal::path("ws/chat/", sync ? canal::as_app<OneRoomChatConsumer>()
                                     : canal::as_app<AsyncOneRoomChatConsumer>()),
    });
    canal::Application checked =
        canal::AllowedHostsOriginValidator(
            [websocket](canal::Scope s, canal::Receive r, canal::Send x) {
                return (*websocket)(std::move(s), std::move(r), std::move(x));
            },
            std::move(allowed_hosts));
    return [http, flutter, websocket, checked = std::move(checked),
            app = std::move(app)](canal::Scope scope, canal::Receive receive,
                                  canal::Send send) -> canal::awaitable<void> {
        if (scope.type == "http" && http->match(scope.path)) {
            return (*http)(std::move(scope), std::move(receive), std::move(send));
        }
        if (scope.type == "websocket" && flutter->match(scope.path)) {
            return (*flutter)(std::move(scope), std::move(receive), std::move(send));
        }
        if (scope.type == "websocket" && websocket->match(scope.path)) {
            return checked(std::move(scope), std::move(receive), std::move(send));
        }
        return app(std::move(scope), std::move(receive), std::move(send));
    };
}

} // namespace chat
