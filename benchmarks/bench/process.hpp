// canal-bench: what /proc and the kernel say about processes (CPU time, RSS), and pinning.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace canal_bench {

/** user+sys seconds of canal-bench itself. */
double own_cpu_seconds();

/** user+sys seconds of process `pid` (all threads) from /proc, or nullopt. */
std::optional<double> process_cpu_seconds(int pid);

/** Resident set size of process `pid` in KiB (VmRSS in /proc/PID/status; 0 = self), or nullopt. */
std::optional<double> process_rss_kib(int pid);

/** Sum of `f(pid)` over `pids`; nullopt when there are none or one is unreadable. */
template <typename F>
std::optional<double> sum_over(std::vector<int> const& pids, F f) {
    if (pids.empty()) {
        return std::nullopt;
    }
    double total = 0;
    for (int pid : pids) {
        auto v = f(pid);
        if (!v) {
            return std::nullopt;
        }
        total += *v;
    }
    return total;
}

/** Pins process `pid` (0: canal-bench) to `cpus`; false when the kernel refuses. */
bool pin_to(pid_t pid, std::vector<int> const& cpus);

/** "exit status 0", "killed by signal 9 (Killed)": a waitpid() status for people. */
std::string describe_wait_status(int status);

} // namespace canal_bench
