// make_channel_layer: `--layer memory|redis://...` to a layer object.
#include <canal/layers/make_channel_layer.hpp>

#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/layers/redis_channel_layer.hpp>

#include <stdexcept>

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
    RedisLayerSettings redis;
    static_cast<LayerSettings&>(redis) = settings;
    redis.hosts.clear();
    redis.prefix = std::move(prefix);
    redis.symmetric_encryption_keys = std::move(encryption_keys);
    for (auto const& url : urls) {
        if (!url.starts_with("redis://") && !url.starts_with("rediss://")) {
            throw std::invalid_argument("--layer '" + url +
                                        "' is invalid: use 'memory' or one or more "
                                        "redis://HOST:PORT[/DB] URLs (several = shards; "
                                        "rediss:// for TLS)");
        }
        redis.hosts.push_back(url);
    }
    auto layer = std::make_shared<RedisChannelLayer>(std::move(redis));
    layer->wait_connected();
    return layer;
}

} // namespace canal
