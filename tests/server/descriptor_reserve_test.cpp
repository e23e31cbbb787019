// DescriptorReserve: blocks of Asio reactor records made ahead of the connections, with
// unconnected sockets that are closed at once; what happens without descriptors to spare.
#include "server/descriptor_reserve.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>

#include <cstddef>
#include <filesystem>

namespace {

using canal::detail::DescriptorReserve;

std::size_t open_descriptors() {
    std::size_t n = 0;
    for ([[maybe_unused]] auto const& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

// Lowers the soft descriptor limit for one test, and puts it back.
struct DescriptorLimit {
    rlimit saved{};
    explicit DescriptorLimit(rlim_t soft) {
        getrlimit(RLIMIT_NOFILE, &saved);
        rlimit lowered = saved;
        lowered.rlim_cur = soft;
        BOOST_TEST_REQUIRE(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    }
    ~DescriptorLimit() { setrlimit(RLIMIT_NOFILE, &saved); }
    DescriptorLimit(DescriptorLimit const&) = delete;
    DescriptorLimit& operator=(DescriptorLimit const&) = delete;
};

// The reactor opens its own descriptors (epoll, eventfd, timerfd) with its first socket.
void start_reactor(boost::asio::io_context& ioc) {
    boost::asio::ip::tcp::socket socket(ioc);
    socket.open(boost::asio::ip::tcp::v4());
}

} // namespace

// What the server does on each accept: the block wanted(), made on the spot.
void ensure(DescriptorReserve& reserve, boost::asio::io_context& ioc, std::size_t open) {
    if (auto const n = reserve.wanted(open)) {
        reserve.made(open, n, DescriptorReserve::make(ioc, n));
    }
}

BOOST_AUTO_TEST_SUITE(descriptor_reserve)

BOOST_AUTO_TEST_CASE(blocks_are_made_ahead_and_no_socket_stays_open) {
    boost::asio::io_context ioc;
    start_reactor(ioc);
    DescriptorReserve reserve(64, 256);
    auto const before = open_descriptors();
    ensure(reserve, ioc, 1);
    BOOST_TEST(reserve.reserved() == 1U + 64U);
    BOOST_TEST(open_descriptors() == before);
    ensure(reserve, ioc, 30); // half a block (32) still left beyond 30 + 1: nothing to do
    BOOST_TEST(reserve.reserved() == 65U);
    ensure(reserve, ioc, 40); // fewer than half a block left: one more block
    BOOST_TEST(reserve.reserved() == 40U + 64U);
    // Blocks grow with the reserve: an eighth of it, at most four blocks.
    ensure(reserve, ioc, 2000);
    BOOST_TEST(reserve.reserved() == 2000U + 64U);
    ensure(reserve, ioc, 2100);
    BOOST_TEST(reserve.reserved() == 2100U + 2064U / 8U - 2U); // 258: capped at 4 blocks, 256
    ensure(reserve, ioc, 600);
    BOOST_TEST(reserve.reserved() == 2356U); // fewer open now: the reserve stays
    ensure(reserve, ioc, 3000);
    BOOST_TEST(reserve.reserved() == 3000U + 256U);
    BOOST_TEST(open_descriptors() == before);
}

BOOST_AUTO_TEST_CASE(one_block_at_a_time) {
    DescriptorReserve reserve(64, 256);
    auto const n = reserve.wanted(10);
    BOOST_TEST(n == 64U);
    BOOST_TEST(reserve.wanted(500) == 0U); // the first one is still being made
    reserve.made(10, n, n);
    BOOST_TEST(reserve.reserved() == 74U);
    BOOST_TEST(reserve.wanted(500) == 64U);
}

BOOST_AUTO_TEST_CASE(without_descriptors_to_spare_the_block_is_cut_short_and_not_retried_at_once) {
    boost::asio::io_context ioc;
    start_reactor(ioc);
    DescriptorReserve reserve(64, 256);
    auto const before = open_descriptors();
    {
        DescriptorLimit limit(before + 10);
        ensure(reserve, ioc, 0);
        // Only the descriptors under the limit (a descriptor number) could be opened, far
        // fewer than the block of 64, and none stays open.
        BOOST_TEST(reserve.reserved() >= 1U);
        BOOST_TEST(reserve.reserved() <= 20U);
        BOOST_TEST(open_descriptors() == before);
        BOOST_TEST(reserve.wanted(1) == 0U); // the next try waits for a block of connections
    }
    ensure(reserve, ioc, 64); // with descriptors again
    BOOST_TEST(reserve.reserved() == 64U + 64U);
    BOOST_TEST(open_descriptors() == before);
}

BOOST_AUTO_TEST_CASE(a_zero_block_reserves_nothing) {
    DescriptorReserve reserve(0);
    BOOST_TEST(reserve.wanted(100) == 0U);
    BOOST_TEST(reserve.reserved() == 0U);
}

BOOST_AUTO_TEST_SUITE_END()
