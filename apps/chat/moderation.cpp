// The moderation worker: ModerationConsumer, its application and `canal-chat worker`.
#include "moderation.hpp"

#include <canal/routing/channel_name_router.hpp>
#include <canal/routing/protocol_type_router.hpp>
#include <canal/worker/worker.hpp>

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace chat {

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// Blocking: reads the file each time.
std::vector<std::string> blocked_words(std::string const& file) {
    if (file.empty()) {
        return {"spam"};
    }
    std::vector<std::string> words;
    std::ifstream in(file);
    if (!in) {
        throw std::runtime_error("cannot read the blocked words file '" + file + "'");
    }
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            words.push_back(lower(line));
        }
    }
    return words;
}

// What the worker checks, for a client's `{"message": VALUE}` (nothing for another frame,
// which the chat consumer answers with an error).
std::optional<canal::Message> moderation_request(canal::Scope const& scope,
                                                 boost::json::value const& content) {
    auto const* obj = content.if_object();
    auto const* message = obj != nullptr ? obj->if_contains("message") : nullptr;
    if (message == nullptr) {
        return std::nullopt;
    }
    auto group = group_for_room(scope.url_route.kwargs.at("room_name"));
    return canal::Message{{"type", "chat.moderate"}, {"group", group}, {"message", *message}};
}

std::string verdict_text(canal::Message const& event) {
    boost::json::object out{{"message", event.at("message")}, {"verdict", event.at("verdict")}};
    return boost::json::serialize(out);
}

} // namespace

ModeratedChatConsumer::ModeratedChatConsumer() {
    on("chat.verdict", &ModeratedChatConsumer::chat_verdict);
}

canal::awaitable<void> ModeratedChatConsumer::receive_json(boost::json::value content) {
    auto request = moderation_request(scope(), content);
    co_await ChatConsumer::receive_json(std::move(content));
    if (request) {
        std::string const channel = moderation_channel;
        co_await channel_layer().send(channel, std::move(*request));
    }
}

canal::awaitable<void> ModeratedChatConsumer::chat_verdict(canal::Message const& event) {
    auto text = event.shared_text("chat.verdict", [&] { return verdict_text(event); });
    co_await send(std::move(text));
}

SyncModeratedChatConsumer::SyncModeratedChatConsumer() {
    on("chat.verdict", &SyncModeratedChatConsumer::chat_verdict);
}

void SyncModeratedChatConsumer::receive_json(boost::json::value content) {
    auto request = moderation_request(scope(), content);
    SyncChatConsumer::receive_json(std::move(content));
    if (request) {
        canal::async_to_sync([&] { return channel_layer().send(moderation_channel, *request); });
    }
}

void SyncModeratedChatConsumer::chat_verdict(canal::Message const& event) {
    send(event.shared_text("chat.verdict", [&] { return verdict_text(event); }));
}

ModerationConsumer::ModerationConsumer(std::string blocked_words_file)
    : blocked_words_file_(std::move(blocked_words_file)) {
    on("chat.moderate", &ModerationConsumer::moderate);
}

void ModerationConsumer::moderate(canal::Message const& event) {
    auto const& value = event.at("message");
    std::string const text = lower(value.is_string() ? std::string_view(value.as_string()) : "");
    bool blocked = false;
    for (auto const& word : blocked_words(blocked_words_file_)) {
        blocked = blocked || text.find(word) != std::string::npos;
    }
    canal::Message verdict{{"type", "chat.verdict"},
                           {"message", value},
                           {"verdict", blocked ? "blocked" : "ok"}};
    std::string const group(event.at("group").as_string());
    canal::async_to_sync([&] { return channel_layer().group_send(group, verdict); });
}

canal::Application make_worker_application(std::string blocked_words_file) {
    std::map<std::string, canal::Application, std::less<>> channels;
    channels.emplace(moderation_channel,
                     canal::as_app<ModerationConsumer>(std::move(blocked_words_file)));
    std::map<std::string, canal::Application, std::less<>> types;
    types.emplace("channel", canal::ChannelNameRouter{std::move(channels)});
    return canal::ProtocolTypeRouter{std::move(types)};
}

int worker_main(int argc, char** argv) {
    // Channel names are the arguments that are neither a flag nor a flag's value (every
    // flag but --help takes one: `--layer URL` or `--layer=URL`).
    std::vector<char*> flag_args{argv[0]};
    std::vector<std::string> channels;
    for (int i = 1; i < argc; ++i) {
        std::string_view const arg = argv[i];
        if (!arg.starts_with("-")) {
            channels.emplace_back(arg);
            continue;
        }
        flag_args.push_back(argv[i]);
        bool const takes_value = arg != "--help" && arg != "-h" &&
                                 arg.find('=') == std::string_view::npos;
        if (takes_value && i + 1 < argc) {
            flag_args.push_back(argv[++i]);
        }
    }
    std::vector<canal::Settings::Flag> flags{
        {"blocked-words", "chat-moderation: file of blocked words, one a line (default: spam)",
         ""},
    };
    auto settings = canal::Settings::from_args(static_cast<int>(flag_args.size()),
                                               flag_args.data(), &flags);
    if (channels.empty()) {
        std::cerr << argv[0] << ": name the channels to listen on, e.g. `canal-chat worker "
                  << moderation_channel << "`\n";
        return 2;
    }
    return canal::run_worker(make_worker_application(flags[0].value), std::move(channels),
                             std::move(settings));
}

} // namespace chat
