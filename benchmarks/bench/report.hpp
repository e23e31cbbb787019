// canal-bench: the report of a run: a table for people, then one JSON line for scripts.
#pragma once

#include "bench/common.hpp"
#include "bench/options.hpp"
#include "bench/results.hpp"

#include <string>
#include <vector>

namespace canal_bench {

/**
 * Prints the table and the JSON line (`{"mode":...}`, Boost.JSON) of a run of `o` against
 * `eps` to stdout; `server_exit` is how the spawned servers ended.
 */
void report(Options const& o, std::vector<tcp::endpoint> const& eps, Results const& r,
            std::string const& server_exit);

} // namespace canal_bench
