// make_channel_layer: a channel layer from `--layer` values (memory, or Redis URLs).
#pragma once

#include <canal/layers/channel_layer.hpp>

#include <memory>
#include <string>
#include <vector>

namespace canal {

/**
 * Builds the layer named by `urls`: empty or `{"memory"}` gives an InMemoryChannelLayer;
 * one or more `redis://host:port[/db]` URLs give a RedisChannelLayer sharded over them
 * (with `prefix`, `settings` and `encryption_keys`), connected before it is returned; one or
 * more `redis+pubsub://host:port[/db]` URLs give a RedisPubSubChannelLayer likewise.
 *
 * @param encryption_keys RedisLayerSettings::symmetric_encryption_keys (channels_redis'
 * `symmetric_encryption_keys`); empty: messages are not encrypted.
 * @throws std::invalid_argument for a malformed value (e.g. `memory` mixed with URLs), or
 * encryption keys for the in-memory layer.
 * @throws canal::Error naming Redis and the address when a server cannot be reached.
 */
std::shared_ptr<ChannelLayer> make_channel_layer(std::vector<std::string> const& urls,
                                                 LayerSettings settings = {},
                                                 std::string prefix = "asgi",
                                                 std::vector<std::string> encryption_keys = {});

} // namespace canal
