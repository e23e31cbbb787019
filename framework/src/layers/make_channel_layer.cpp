// make_channel_layer: `--layer memory|redis://...|redis+pubsub://...` to a layer object.
#include <canal/layers/make_channel_layer.hpp>

#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/layers/redis_channel_layer.hpp>
#include <canal/layers/redis_pubsub_channel_layer.hpp>

#include <algorithm>
#include <stdexcept>
#include <string_view>

namespace canal {

std::shared_ptr<ChannelLayer> make_channel_layer(std::vector<std::string> const& urls,
                                                 LayerSettings settings, std::string prefix,
                                                 std::vector<std::string> encryption_keys) {
    if (urls.empty() || (urls.size() == 1 && urls.front() == "memory")) {
        if (!encryption_keys.empty()) {
            throw std::invalid_argument("encryption keys are for the Redis layer: give "
                                        "redis://HOST:PORT URLs, not 'memory'");
        }
        return std::make_shared<InMemoryChannelLayer>(settings);
    }
    // redis+pubsub:// names the pub/sub layer (channels_redis.pubsub); the URL is otherwise
    // a redis:// one. Both layers store different things, so they are not mixed.
    constexpr std::string_view pubsub_scheme = "redis+pubsub://";
    auto const is_pubsub = [&](std::string const& url) { return url.starts_with(pubsub_scheme); };
    if (std::any_of(urls.begin(), urls.end(), is_pubsub)) {
        if (!encryption_keys.empty()) {
            throw std::invalid_argument("encryption keys are for the Redis layer (redis://): "
                                        "channels_redis' pub/sub layer has no "
                                        "symmetric_encryption_keys");
        }
        RedisPubSubLayerSettings pubsub;
        static_cast<LayerSettings&>(pubsub) = settings;
        pubsub.hosts.clear();
        pubsub.prefix = std::move(prefix);
        for (auto const& url : urls) {
            if (!is_pubsub(url)) {
                throw std::invalid_argument("--layer '" + url +
                                            "' is invalid here: with redis+pubsub://HOST:PORT[/DB] "
                                            "URLs, every --layer is one (several = shards)");
            }
            pubsub.hosts.push_back("redis://" + url.substr(pubsub_scheme.size()));
        }
        auto layer = std::make_shared<RedisPubSubChannelLayer>(std::move(pubsub));
        layer->wait_connected();
        return layer;
    }
    RedisLayerSettings redis;
    static_cast<LayerSettings&>(redis) = settings;
    redis.hosts.clear();
    redis.prefix = std::move(prefix);
    redis.symmetric_encryption_keys = std::move(encryption_keys);
    for (auto const& url : urls) {
        if (!url.starts_with("redis://") && !url.starts_with("rediss://")) {
            throw std::invalid_argument("--layer '" + url +
                                        "' is invalid: use 'memory', or one or more "
                                        "redis://HOST:PORT[/DB] URLs (several = shards; "
                                        "rediss:// for TLS), or redis+pubsub://HOST:PORT[/DB] "
                                        "URLs");
        }
        redis.hosts.push_back(url);
    }
    auto layer = std::make_shared<RedisChannelLayer>(std::move(redis));
    layer->wait_connected();
    return layer;
}

} // namespace canal
