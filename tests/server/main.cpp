// The server's sans-I/O core and the HTTP consumer, tested without sockets.
#define BOOST_TEST_MODULE server_core
#include <boost/test/unit_test.hpp>
