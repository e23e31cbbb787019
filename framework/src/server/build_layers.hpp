// The layers canal::run() and canal::run_worker() build from the flags.
#pragma once

#include <canal/server/settings.hpp>

namespace canal::detail {

/**
 * Fills `settings.channel_layer` (when null) from `--layer`, and `settings.channel_layers`
 * from `--layer-alias` (aliases already there are kept), each with the `layer_*` settings.
 * @throws std::exception naming the layer (and alias) that could not be built.
 */
void build_channel_layers(Settings& settings);

} // namespace canal::detail
