// The Django test module: signing and session decoding against Django's own vectors, the
// database on SQLite, and the Django middleware.
#define BOOST_TEST_MODULE django
#include <boost/test/unit_test.hpp>
