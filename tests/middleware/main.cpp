// The middleware test module: cookies, sessions, auth, passwords, CSRF and origins.
#define BOOST_TEST_MODULE middleware
#include <boost/test/unit_test.hpp>
