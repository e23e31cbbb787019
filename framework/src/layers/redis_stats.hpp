// What the Redis layers report of their connections (ChannelLayer::layer_stats()).
#pragma once

#include <canal/layers/channel_layer.hpp>
#include <canal/redis/client.hpp>

namespace canal::detail {

/** Adds `client`'s round trips, failures and reconnects to `out`; notes it when it is down. */
inline void add_connection_stats(LayerStats& out, redis::Client const& client) {
    out.round_trips += client.round_trips();
    out.errors += client.failures();
    out.reconnects += client.reconnects();
    if (!client.connected()) {
        out.reachable = false;
        out.unreachable += (out.unreachable.empty() ? "" : ", ") + client.url().redacted();
    }
}

} // namespace canal::detail
