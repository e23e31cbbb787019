// The layers test module: channel layers.
#define BOOST_TEST_MODULE layers
#include <boost/test/unit_test.hpp>
