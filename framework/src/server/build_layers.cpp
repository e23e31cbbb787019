// build_channel_layers: --layer and --layer-alias to layer objects.
#include "server/build_layers.hpp"

#include <canal/core/errors.hpp>
#include <canal/layers/make_channel_layer.hpp>

namespace canal::detail {

void build_channel_layers(Settings& settings) {
    if (!settings.channel_layer) {
        settings.channel_layer =
            make_channel_layer(settings.layer, settings.layer_settings(), settings.layer_prefix,
                               settings.layer_encryption_keys);
    }
    for (auto const& [alias, urls] : settings.layer_aliases) {
        if (settings.channel_layers.contains(alias)) {
            continue;
        }
        try {
            settings.channel_layers[alias] =
                make_channel_layer(urls, settings.layer_settings(), settings.layer_prefix,
                                   settings.layer_encryption_keys);
        } catch (std::exception const& e) {
            throw Error("layer alias '" + alias + "': " + e.what());
        }
    }
}

} // namespace canal::detail
