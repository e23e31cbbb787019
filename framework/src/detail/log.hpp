// Minimal logging to stderr, one line per call, safe from any thread.
#pragma once

#include <string_view>

namespace canal::detail {

void log_info(std::string_view line);
void log_warning(std::string_view line);
void log_error(std::string_view line);

} // namespace canal::detail
