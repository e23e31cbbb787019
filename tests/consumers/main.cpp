// The consumers test module: consumers driven through the testing communicators.
#define BOOST_TEST_MODULE consumers
#include <boost/test/unit_test.hpp>
