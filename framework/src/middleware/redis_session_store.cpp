// RedisSessionStore: GET / SET EX / DEL of JSON session data.
#include <canal/middleware/redis_session_store.hpp>

#include <canal/core/errors.hpp>
#include <canal/redis/client.hpp>

#include "session_data.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <stdexcept>
#include <utility>

namespace canal {

RedisSessionStore::RedisSessionStore(std::shared_ptr<redis::Client> client, std::string prefix)
    : client_(std::move(client)), prefix_(std::move(prefix)) {
    if (!client_) {
        throw std::invalid_argument("RedisSessionStore: the Redis client is null");
    }
}

awaitable<std::optional<boost::json::object>> RedisSessionStore::load(std::string key) {
    co_await client_->connect();
    redis::Command get;
    get.emplace_back("GET");
    get.push_back(prefix_ + key);
    auto reply = co_await client_->command(std::move(get));
    if (reply.kind != redis::Reply::Kind::string) {
        co_return std::nullopt;
    }
    co_return detail::decode_session_data(reply.str);
}

awaitable<void> RedisSessionStore::save(std::string key, boost::json::object data,
                                        std::chrono::seconds ttl) {
    co_await client_->connect();
    redis::Command set;
    set.emplace_back("SET");
    set.push_back(prefix_ + key);
    set.push_back(boost::json::serialize(data));
    set.emplace_back("EX");
    set.push_back(std::to_string(ttl.count() > 0 ? ttl.count() : 1));
    (void)co_await client_->command(std::move(set));
}

awaitable<void> RedisSessionStore::remove(std::string key) {
    co_await client_->connect();
    redis::Command del;
    del.emplace_back("DEL");
    del.push_back(prefix_ + key);
    (void)co_await client_->command(std::move(del));
}

namespace detail {

std::optional<boost::json::object> decode_session_data(std::string_view text) {
    // Anything that is not a JSON object (written by something else) is no session.
    boost::system::error_code ec;
    auto value = boost::json::parse(text, ec);
    if (ec || !value.is_object()) {
        return std::nullopt;
    }
    return std::move(value.as_object());
}

} // namespace detail

} // namespace canal
