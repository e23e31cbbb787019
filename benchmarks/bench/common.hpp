// canal-bench: what every part uses: Asio aliases, clocks in nanoseconds, number formatting.
#pragma once

#include <canal/core/net.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace canal_bench {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

inline std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

inline Clock::time_point from_ns(std::int64_t ns) {
    return Clock::time_point(
        std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

inline std::int64_t seconds_to_ns(double s) {
    return static_cast<std::int64_t>(std::llround(s * 1e9));
}

inline std::string fixed(double v, int decimals) {
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%.*f", decimals, v);
    return buf.data();
}

} // namespace canal_bench
