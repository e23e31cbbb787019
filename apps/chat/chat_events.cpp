// ChatEventsConsumer: a chat room over server-sent events and POST.
#include "chat_events.hpp"

#include "chat_app.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace chat {

ChatEventsConsumer::ChatEventsConsumer() { on("chat.message", &ChatEventsConsumer::chat_message); }

canal::awaitable<void> ChatEventsConsumer::refuse(int status, std::string error) {
    canal::Headers headers;
    headers.emplace_back("content-type", "application/json");
    if (status == 405) {
        headers.emplace_back("allow", "GET, POST");
    }
    boost::json::object out;
    out["error"] = error;
    co_await send_response(status, boost::json::serialize(out), std::move(headers));
}

canal::awaitable<void> ChatEventsConsumer::handle(std::string body) {
    std::string refused;
    try {
        group_ = group_for_room(scope().url_route.kwargs.at("room_name"));
    } catch (canal::DenyConnection const& e) {
        refused = e.what();
    }
    if (!refused.empty()) {
        co_await refuse(404, std::move(refused));
        co_return;
    }
    if (scope().method == "POST") {
        co_await post(body);
        co_return;
    }
    if (scope().method != "GET") {
        co_await refuse(405, "use GET to follow the room, POST to send to it");
        co_return;
    }
    co_await channel_layer().group_add(group_, channel_name());
    joined_ = true;
    canal::Headers headers;
    headers.emplace_back("content-type", "text/event-stream");
    headers.emplace_back("cache-control", "no-cache");
    // Behind nginx, its proxy buffering would hold the events back.
    headers.emplace_back("x-accel-buffering", "no");
    co_await send_headers(200, std::move(headers));
    // A comment line: the client sees the stream open before the first message.
    co_await send_body(": joined " + group_ + "\n\n", true);
}

canal::awaitable<void> ChatEventsConsumer::post(std::string const& body) {
    auto const* type = scope().header("content-type");
    if (type == nullptr || type->rfind("application/json", 0) != 0) {
        co_await refuse(415, "send {\"message\": TEXT} as application/json");
        co_return;
    }
    boost::system::error_code ec;
    auto content = boost::json::parse(body, ec);
    auto const* obj = ec ? nullptr : content.if_object();
    auto const* text = obj != nullptr ? obj->if_contains("message") : nullptr;
    if (text == nullptr || !text->is_string()) {
        co_await refuse(400, "expected {\"message\": TEXT}");
        co_return;
    }
    canal::Message event{{"type", "chat.message"}, {"message", *text}};
    co_await channel_layer().group_send(group_, std::move(event));
    co_await send_response(204, std::string());
}

canal::awaitable<void> ChatEventsConsumer::chat_message(canal::Message const& event) {
    // The same bytes the websocket members send, serialized once per group message.
    auto text = event.shared_text("chat.out", [&] {
        boost::json::object out{{"message", event.at("message")}};
        return boost::json::serialize(out);
    });
    co_await send_body("data: " + *text + "\n\n", true);
}

canal::awaitable<void> ChatEventsConsumer::disconnect() {
    if (joined_) {
        joined_ = false;
        co_await channel_layer().group_discard(group_, channel_name());
    }
}

} // namespace chat
