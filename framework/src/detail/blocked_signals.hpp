// The stop signals (SIGINT, SIGTERM, SIGHUP) of canal::run and canal::run_worker: blocked in
// every thread the process starts, and taken synchronously by the thread that waits for them.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace canal::detail {

/**
 * Blocks SIGINT, SIGTERM and SIGHUP in the calling thread while it lives; threads started
 * meanwhile inherit the mask and never take them. wait() then takes one with sigwait(), with
 * no handler involved: a handler-based wait can lose a signal that lands on a thread idle in
 * a condition wait or a poll (sanitizer runtimes defer handlers to the thread's next
 * intercepted call). The previous mask is restored on destruction.
 */
class BlockedSignals {
public:
    BlockedSignals() noexcept {
        sigemptyset(&set_);
        sigaddset(&set_, SIGINT);
        sigaddset(&set_, SIGTERM);
        sigaddset(&set_, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set_, &previous_);
    }
    ~BlockedSignals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
    BlockedSignals(BlockedSignals const&) = delete;
    BlockedSignals& operator=(BlockedSignals const&) = delete;

    /** Waits for one of the three signals and returns its number. */
    int wait() const noexcept {
        int sig = 0;
        while (sigwait(&set_, &sig) != 0) {
        }
        return sig;
    }

private:
    sigset_t set_{};
    sigset_t previous_{};
};

} // namespace canal::detail
