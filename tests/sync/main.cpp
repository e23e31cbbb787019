// The sync test module: the handler pool, sync_to_async / async_to_sync, and the blocking
// consumers (WebsocketConsumer, JsonWebsocketConsumer, SyncConsumer).
#define BOOST_TEST_MODULE sync
#include <boost/test/unit_test.hpp>
