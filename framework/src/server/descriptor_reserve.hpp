// DescriptorReserve: keeps Asio's per-socket reactor records together, so that the memory a
// storm of connections frees can go back to the system.
#pragma once

#include <canal/core/net.hpp>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cstddef>
#include <mutex>

namespace canal::detail {

/**
 * Asio's epoll reactor gives every socket it has seen a record (`descriptor_state`, ~170
 * bytes) from a pool it never shrinks. Made one by one as connections arrive, these records
 * end up between the connections' own allocations, and after the connections close each one
 * keeps its page from being returned: 10,000 connections left ~45 MiB behind where the
 * server started at 12 MiB (docs/benchmarks.md). The reserve makes them in blocks ahead of
 * need instead: make() opens a block of sockets on the io_context and closes them at once,
 * so the pool holds the block's records, side by side, for the next connections to reuse.
 * The server runs make() on a thread of its own (a block is milliseconds of system calls, kept
 * off the I/O threads), which also puts the records in that thread's malloc arena, apart from
 * the connections' memory.
 *
 * @par Thread safety
 * wanted(), made() and reserved() may be called from any thread.
 */
class DescriptorReserve {
public:
    /** Blocks of at least `block` and at most `largest` records (at least `block`). */
    explicit DescriptorReserve(std::size_t block = 256, std::size_t largest = 1024) noexcept
        : block_(block), largest_(std::max(block, largest)) {}

    /**
     * Called with the number of sockets open on the reactor: when fewer than half a block of
     * records are left beyond them and no block is being made, the size of the block to make
     * now (an eighth of the reserve, between `block` and `largest`); 0 otherwise. After a
     * block that was cut short (no descriptors to spare), 0 until `open` has grown by another
     * block.
     */
    std::size_t wanted(std::size_t open) noexcept;

    /** Opens `n` sockets on `ioc` together, then closes them; returns how many it opened. */
    static std::size_t make(net::io_context& ioc, std::size_t n) noexcept;

    /** Reports the block wanted(`open`) asked for: `opened` of its `n` sockets were opened. */
    void made(std::size_t open, std::size_t n, std::size_t opened) noexcept;

    /** Records made so far (the pool holds at least these). */
    [[nodiscard]] std::size_t reserved() const noexcept;

private:
    mutable std::mutex mutex_;
    std::size_t block_;
    std::size_t largest_;
    std::size_t reserved_ = 0;
    // After a short block: no new try before `open` reaches this.
    std::size_t retry_at_ = 0;
    bool making_ = false;
};

} // namespace canal::detail
