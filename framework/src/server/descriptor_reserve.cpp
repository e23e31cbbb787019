#include "server/descriptor_reserve.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <vector>

namespace canal::detail {

std::size_t DescriptorReserve::wanted(std::size_t open) noexcept {
    std::lock_guard lock(mutex_);
    if (block_ == 0 || making_ || open + block_ / 2 <= reserved_ || open < retry_at_) {
        return 0;
    }
    making_ = true;
    return std::clamp(reserved_ / 8, block_, largest_);
}

std::size_t DescriptorReserve::make(net::io_context& ioc, std::size_t n) noexcept {
    try {
        // Open together, so that the pool must make a record for each, then close.
        std::vector<net::ip::tcp::socket> sockets;
        sockets.reserve(n);
        while (sockets.size() < n) {
            net::ip::tcp::socket socket(ioc);
            boost::system::error_code ec;
            socket.open(net::ip::tcp::v4(), ec);
            if (ec) {
                break;
            }
            sockets.push_back(std::move(socket));
        }
        return sockets.size();
    } catch (...) {
        return 0; // out of memory: the connections get their records anyway
    }
}

void DescriptorReserve::made(std::size_t open, std::size_t n, std::size_t opened) noexcept {
    std::lock_guard lock(mutex_);
    making_ = false;
    reserved_ = std::max(reserved_, open + opened);
    if (opened < n) {
        retry_at_ = open + block_;
    }
}

std::size_t DescriptorReserve::reserved() const noexcept {
    std::lock_guard lock(mutex_);
    return reserved_;
}

} // namespace canal::detail
