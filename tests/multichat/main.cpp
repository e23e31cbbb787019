// The multichat test module: login, sessions and the multi-room chat over real sockets.
#define BOOST_TEST_MODULE multichat
#include <boost/test/unit_test.hpp>
