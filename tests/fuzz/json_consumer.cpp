// Fuzz target: the JSON consumer input path with the tutorial chat's handlers: a client's
// text frame parsed by AsyncJsonWebsocketConsumer / JsonWebsocketConsumer and handled by
// ChatConsumer / SyncChatConsumer, and a layer message dispatched by its "type" to their
// handlers. Driven by WebsocketCommunicator (no socket). Input: a mode byte (0: async client
// frame, 1: sync client frame, 2: async layer message, 3: sync layer message), then the text.
//
// Whatever the input, the consumer answers it and stays usable, or closes with a documented
// code (1007 invalid JSON, 1011 a handler failed): a following valid message shows which.
#include "chat_app.hpp"

#include <canal/core/errors.hpp>
#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/testing/websocket_communicator.hpp>

#include "fuzz_input.hpp"

#include <boost/json/parse.hpp>

#include <array>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace std::chrono_literals;

canal::Application const& chat_app(bool sync) {
    // Built once: the routes compile their patterns.
    static std::array<canal::Application, 2> const apps{
        chat::make_application(".", chat::ConsumerStyle::async, {"*"}),
        chat::make_application(".", chat::ConsumerStyle::sync, {"*"}),
    };
    return apps[sync ? 1 : 0];
}

std::string const sentinel = R"({"message": "sentinel"})";

/** Reads until the sentinel's echo (true) or a close with a documented code (false). */
bool sentinel_comes_back(canal::WebsocketCommunicator& ws) {
    for (int i = 0; i < 8; ++i) {
        auto event = ws.receive_output(5s);
        if (auto const* close = std::get_if<canal::WebsocketClose>(&event)) {
            if (close->code != 1007 && close->code != 1011) {
                canal::fuzz::broken("the chat closed with an undocumented code");
            }
            return false;
        }
        auto const* send = std::get_if<canal::WebsocketSend>(&event);
        if (send == nullptr || !send->data) {
            canal::fuzz::broken("the chat sent something other than a message or a close");
        }
        if (*send->data == R"({"message":"sentinel"})") {
            return true;
        }
    }
    canal::fuzz::broken("the chat sent more than 8 messages for 2 inputs");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    int const mode = data[0] % 4;
    bool const sync = mode % 2 == 1;
    std::string const text(canal::fuzz::text(data + 1, size - 1));

    canal::Scope scope;
    auto layer = std::make_shared<canal::InMemoryChannelLayer>();
    scope.channel_layer = layer;
    canal::WebsocketCommunicator ws(chat_app(sync), "/ws/chat/lobby/", scope);
    if (!ws.connect(5s).accepted) {
        canal::fuzz::broken("the chat refused a valid room");
    }
    if (mode < 2) {
        ws.send_to(text);
    } else {
        boost::system::error_code ec;
        auto value = boost::json::parse(text, ec);
        if (ec || !value.is_object()) {
            return 0;
        }
        canal::Message message(std::move(value.as_object()));
        // A layer message from another process, as if group_sent there.
        auto send = layer->group_send("chat_lobby", std::move(message));
        try {
            ws.communicator().run(std::move(send), 10s);
        } catch (canal::Error const& e) {
            if (std::string_view(e.what()).starts_with("timed out")) {
                canal::fuzz::broken("a group_send did not complete within 10 s");
            }
            return 0; // no valid "type": refused by the layer
        }
    }
    ws.send_to(sentinel);
    if (sentinel_comes_back(ws)) {
        ws.disconnect();
    }
    return 0;
}
