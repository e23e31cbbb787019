// The tutorial chat consumer and its routes.
#include "chat_app.hpp"
#include "chat_events.hpp"
#include "echo_app.hpp"
#include "moderation.hpp"

#include <canal/middleware/origin_validator.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/routing/url_router.hpp>
#include <canal/server/static_files.hpp>

#include <boost/json/serialize.hpp>

namespace chat {

std::string group_for_room(std::string const& room) {
    auto group = "chat_" + room;
    if (!canal::ChannelLayer::is_valid_group_name(group)) {
        // Refuse clearly instead of failing inside the layer: HTTP 403 at the handshake.
        throw canal::DenyConnection("room name '" + room + "' is not allowed: use ASCII letters, "
                                    "digits, '-', '_' and '.', under 95 characters");
    }
    return group;
}

ChatConsumer::ChatConsumer() { on("chat.message", &ChatConsumer::chat_message); }

canal::awaitable<void> ChatConsumer::connect() {
    group_ = group_for_room(scope().url_route.kwargs.at("room_name"));
    co_await channel_layer().group_add(group_, channel_name());
    co_await accept();
}

canal::awaitable<void> ChatConsumer::disconnect(int /*code*/) {
    if (!group_.empty()) {
        co_await channel_layer().group_discard(group_, channel_name());
    }
}

namespace {
// The tutorial's `text_data_json['message']`: any JSON value (a string from the tutorial's
// page, an object from the Flutter client), relayed as it is. Null when there is none.
boost::json::value const* message_of(boost::json::value const& content) {
    auto const* obj = content.if_object();
    return obj != nullptr ? obj->if_contains("message") : nullptr;
}

char const* const expected_message = "expected {\"message\": VALUE}";
} // namespace

canal::awaitable<void> ChatConsumer::receive_json(boost::json::value content) {
    auto const* message = message_of(content);
    if (message == nullptr) {
        boost::json::object error{{"error", expected_message}};
        co_await send_json(std::move(error));
        co_return;
    }
    canal::Message event{{"type", "chat.message"}, {"message", *message}};
    co_await channel_layer().group_send(group_, std::move(event));
}

canal::awaitable<void> ChatConsumer::chat_message(canal::Message const& event) {
    // Every member sends the same bytes: build them once per group message.
    auto text = event.shared_text("chat.out", [&] {
        boost::json::object out{{"message", event.at("message")}};
        return boost::json::serialize(out);
    });
    co_await send(std::move(text));
}

// --- the same consumer, sync style -------------------------------------------------------

SyncChatConsumer::SyncChatConsumer() { on("chat.message", &SyncChatConsumer::chat_message); }

void SyncChatConsumer::connect() {
    group_ = group_for_room(scope().url_route.kwargs.at("room_name"));
    canal::async_to_sync([&] { return channel_layer().group_add(group_, channel_name()); });
    accept();
}

void SyncChatConsumer::disconnect(int /*code*/) {
    if (!group_.empty()) {
        canal::async_to_sync([&] { return channel_layer().group_discard(group_, channel_name()); });
    }
}

void SyncChatConsumer::receive_json(boost::json::value content) {
    auto const* message = message_of(content);
    if (message == nullptr) {
        send_json(boost::json::object{{"error", expected_message}});
        return;
    }
    canal::Message event{{"type", "chat.message"}, {"message", *message}};
    canal::async_to_sync([&] { return channel_layer().group_send(group_, event); });
}

void SyncChatConsumer::chat_message(canal::Message const& event) {
    send(event.shared_text("chat.out", [&] {
        boost::json::object out{{"message", event.at("message")}};
        return boost::json::serialize(out);
    }));
}

canal::Application make_application(std::filesystem::path const& static_dir, ConsumerStyle style,
                                    std::vector<std::string> allowed_hosts, bool moderated) {
    canal::URLRouter http{{
        canal::path("chat/", canal::file_response(static_dir / "index.html")),
        canal::path("chat/<str:room_name>/", canal::file_response(static_dir / "room.html")),
        // The same room without a websocket: server-sent events, and POST to send.
        canal::path("chat/<str:room_name>/events", canal::as_app<ChatEventsConsumer>()),
        canal::path("static/<path:file>", canal::StaticFiles{static_dir, "/static/"}),
    }};
    canal::URLRouter websocket{{
        canal::path("ws/chat/<str:room_name>/", style == ConsumerStyle::sync
                                                    ? canal::as_app<SyncChatConsumer>()
                                                    : canal::as_app<ChatConsumer>()),
        // Echo for the benchmarks (benchmarks/), in the same consumer style as the chat.
        canal::path("ws/echo/", style == ConsumerStyle::sync ? canal::as_app<SyncEchoConsumer>()
                                                             : canal::as_app<EchoConsumer>()),
    }};
    if (moderated) {
        // The same routes, with the room chat's consumers moderated (moderation.hpp).
        auto room = style == ConsumerStyle::sync ? canal::as_app<SyncModeratedChatConsumer>()
                                                 : canal::as_app<ModeratedChatConsumer>();
        websocket = canal::URLRouter{{
            canal::path("ws/chat/<str:room_name>/", std::move(room)),
            canal::path("", std::move(websocket)),
        }};
    }
    std::map<std::string, canal::Application, std::less<>> apps;
    apps.emplace("http", std::move(http));
    // The tutorial's asgi.py: AllowedHostsOriginValidator(URLRouter(...)).
    apps.emplace("websocket",
                 canal::AllowedHostsOriginValidator(std::move(websocket), std::move(allowed_hosts)));
    return canal::ProtocolTypeRouter{std::move(apps)};
}

} // namespace chat
