// The chat's moderation worker (Channels' worker and ChannelNameRouter): a sync consumer on
// the `chat-moderation` channel checks each chat message and group_sends a verdict.
#pragma once

#include "chat_app.hpp"

#include <canal/consumers/sync_consumer.hpp>

#include <string>

namespace chat {

/** The channel a moderated chat sends each message to (`canal-chat worker chat-moderation`). */
inline constexpr char const* moderation_channel = "chat-moderation";

/**
 * The tutorial's ChatConsumer, moderated: each message also goes to the `chat-moderation`
 * channel, and each `chat.verdict` the worker group_sends is sent to the client as
 * `{"message": VALUE, "verdict": "ok" or "blocked"}`.
 */
class ModeratedChatConsumer : public ChatConsumer {
public:
    ModeratedChatConsumer();

protected:
    canal::awaitable<void> receive_json(boost::json::value content) override;
    canal::awaitable<void> chat_verdict(canal::Message const& event);
};

/** The same, sync style. */
class SyncModeratedChatConsumer : public SyncChatConsumer {
public:
    SyncModeratedChatConsumer();

protected:
    void receive_json(boost::json::value content) override;
    void chat_verdict(canal::Message const& event);
};

/**
 * Checks each `{"type": "chat.moderate", "group": GROUP, "message": VALUE}` and group_sends
 * `{"type": "chat.verdict", "message": VALUE, "verdict": "ok" or "blocked"}` to GROUP.
 * A message is blocked when its text contains a blocked word (ASCII case ignored): those of
 * `blocked_words_file`, one a line, read again for each message (edits apply at once; the
 * blocking file I/O is why it is a sync consumer), or `spam` without a file.
 */
class ModerationConsumer : public canal::SyncConsumer {
public:
    explicit ModerationConsumer(std::string blocked_words_file = {});

private:
    void moderate(canal::Message const& event);
    std::string blocked_words_file_;
};

/**
 * The worker's application, as a Channels project's `asgi.py` has it:
 * `ProtocolTypeRouter({"channel": ChannelNameRouter({"chat-moderation": ...})})`.
 */
canal::Application make_worker_application(std::string blocked_words_file = {});

/**
 * `canal-chat worker [FLAGS] CHANNEL...`: Channels' `runworker`. FLAGS are the server's
 * (`--layer`, `--handler-threads`...) and `--blocked-words FILE`.
 */
int worker_main(int argc, char** argv);

} // namespace chat
