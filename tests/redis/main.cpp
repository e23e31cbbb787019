// The redis test module: RESP codec, URLs, channels_redis' wire format, the client and the
// Redis channel layer against real redis-servers.
#define BOOST_TEST_MODULE redis
#include <boost/test/unit_test.hpp>
