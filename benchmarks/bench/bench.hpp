// canal-bench: the load itself: the clients of every mode on one thread.
#pragma once

#include "bench/common.hpp"
#include "bench/options.hpp"
#include "bench/results.hpp"
#include "bench/server_process.hpp"

#include <string>
#include <vector>

namespace canal_bench {

/** How a run ended. */
struct LoadRun {
    /** The run went to its end (results are complete). */
    bool completed = false;
    /** Why it did not, or what went wrong on the way (empty: nothing). */
    std::string error;
    /** What it measured. */
    Results results;
};

/**
 * Runs the mode of `o` against `endpoints` on an io_context of its own (this thread),
 * watching the CPU and memory of `watched_pids` and the output of the `spawned` servers.
 * SIGINT and SIGTERM end it early; a watchdog (and SIGALRM beyond that) bounds it.
 */
LoadRun run_load(Options const& o, std::vector<tcp::endpoint> const& endpoints,
                 std::vector<ServerProcess*> const& spawned, std::vector<int> const& watched_pids);

} // namespace canal_bench
