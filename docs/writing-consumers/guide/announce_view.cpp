// AnnounceView and NewsConsumer.
#include "guide/announce_view.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <string>
#include <utility>

namespace {
// g++ 12: a string literal turned into a std::string inside a co_await operand can be
// miscompiled; the group's name is a named string.
std::string const news_group = "news";
} // namespace

canal::awaitable<void> AnnounceView::handle(std::string body) {
    if (scope().method != "POST") {
        canal::Headers headers{{"allow", "POST"}, {"content-type", "text/plain"}};
        std::string text = "POST the announcement\n";
        co_await send_response(405, std::move(text), std::move(headers));
        co_return;
    }
    canal::Message event{{"type", "news.announce"}, {"text", body}};
    co_await channel_layer().group_send(news_group, std::move(event));
    std::string text = "announced\n";
    canal::Headers headers{{"content-type", "text/plain"}};
    co_await send_response(202, std::move(text), std::move(headers));
}

NewsConsumer::NewsConsumer() { on("news.announce", &NewsConsumer::news_announce); }

canal::awaitable<void> NewsConsumer::connect() {
    co_await channel_layer().group_add(news_group, channel_name());
    co_await accept();
}

canal::awaitable<void> NewsConsumer::disconnect(int /*code*/) {
    co_await channel_layer().group_discard(news_group, channel_name());
}

canal::awaitable<void> NewsConsumer::news_announce(canal::Message const& event) {
    // Serialized once per announcement, whatever the number of members.
    auto text = event.shared_text("news.out", [&] {
        boost::json::object out{{"news", event.at("text")}};
        return boost::json::serialize(out);
    });
    co_await send(std::move(text));
}
