// DeadlineSweep: coarse deadlines for many connections, looked at by one timer. An open
// websocket used to keep a timer of its own for keep-alive (the timer and its pending wait,
// about 0.25 KiB for the connection's whole life); here it keeps only its due time, and the
// server's one sweep tells the connections whose time has passed. The sweep runs every
// `period`, so a deadline is met up to a period late, never early.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace canal::detail {

class DeadlineSweep {
public:
    using Clock = std::chrono::steady_clock;

    /** What the sweep looks at: a due time, set from any thread. */
    class Client {
    public:
        Client() = default;
        Client(Client const&) = delete;
        Client& operator=(Client const&) = delete;

        /** From now on, deadline_passed() once `at` has passed (replaces an earlier one). */
        void set_due(Clock::time_point at) noexcept {
            auto const ticks = at.time_since_epoch().count();
            due_.store(ticks == 0 ? 1 : ticks, std::memory_order_relaxed);
        }
        /** No deadline. */
        void clear_due() noexcept { due_.store(0, std::memory_order_relaxed); }

    protected:
        ~Client() = default;

    private:
        friend class DeadlineSweep;
        /**
         * Called by sweep() once per due time that has passed, under the sweep's lock: hand
         * the work to the client's own executor, and do not call back into the sweep.
         */
        virtual void deadline_passed() noexcept = 0;

        std::atomic<Clock::rep> due_{0}; // 0: none
        std::size_t slot_ = npos;        // index in clients_ (under the sweep's lock)
        static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    };

    /** The sweep's period for these deadlines' lengths: a quarter of the shortest, 5 ms..1 s. */
    static std::chrono::milliseconds period_for(std::chrono::milliseconds shortest);

    /** Starts looking at `client` (a no-op when it is already looked at). */
    void add(Client& client);
    /** Stops looking at `client`; after it returns, the sweep does not call it again. */
    void remove(Client& client) noexcept;

    /**
     * One pass: every client whose due time is at or before `now` has it cleared and is told
     * (deadline_passed()). Returns how many were told.
     */
    std::size_t sweep(Clock::time_point now);

    /** How many clients are looked at. */
    [[nodiscard]] std::size_t size() const;

private:
    mutable std::mutex mutex_;
    std::vector<Client*> clients_;
};

} // namespace canal::detail
