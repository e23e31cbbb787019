// Must not compile: async_to_sync given the awaitable instead of a callable returning it.
#include <canal/layers/channel_layer.hpp>
#include <canal/sync/async_to_sync.hpp>

void notify(canal::ChannelLayer& layer, canal::Message const& message) {
    canal::async_to_sync(layer.group_send("room", message));
}
