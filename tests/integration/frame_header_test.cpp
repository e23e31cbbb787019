// The server's frame headers (sans-I/O): RFC 6455 section 5.2 length encodings, unmasked.
#include "server/frame_header.hpp"

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace {

std::vector<unsigned> bytes_of(bool binary, std::size_t size) {
    std::string out;
    canal::detail::append_frame_header(out, binary, size);
    std::vector<unsigned> v;
    for (char c : out) {
        v.push_back(static_cast<unsigned char>(c));
    }
    return v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(frame_header)

BOOST_AUTO_TEST_CASE(lengths_use_the_shortest_form_and_frames_are_final_and_unmasked) {
    using V = std::vector<unsigned>;
    BOOST_TEST(bytes_of(false, 0) == (V{0x81, 0}), boost::test_tools::per_element());
    BOOST_TEST(bytes_of(true, 5) == (V{0x82, 5}), boost::test_tools::per_element());
    BOOST_TEST(bytes_of(false, 125) == (V{0x81, 125}), boost::test_tools::per_element());
    BOOST_TEST(bytes_of(false, 126) == (V{0x81, 126, 0, 126}), boost::test_tools::per_element());
    BOOST_TEST(bytes_of(false, 65535) == (V{0x81, 126, 0xff, 0xff}),
               boost::test_tools::per_element());
    BOOST_TEST(bytes_of(true, 65536) == (V{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}),
               boost::test_tools::per_element());
    BOOST_TEST(bytes_of(false, 0x0102030405ULL) == (V{0x81, 127, 0, 0, 0, 1, 2, 3, 4, 5}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
