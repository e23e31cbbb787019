// SyncConsumer: what its header does not define inline.
#include <canal/consumers/sync_consumer.hpp>

#include <utility>

namespace canal {

void SyncConsumer::post_event(Event event) { post_event_from_thread(std::move(event)); }

} // namespace canal
