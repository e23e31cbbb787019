// The integration test module: canal's server, consumers and the chat app over real sockets.
#define BOOST_TEST_MODULE integration
#include <boost/test/unit_test.hpp>
