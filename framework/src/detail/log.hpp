// Minimal logging to stderr, one line per call, safe from any thread.
#pragma once

#include <exception>
#include <string_view>

namespace canal::detail {

void log_info(std::string_view line);
void log_warning(std::string_view line);
void log_error(std::string_view line);

/**
 * Logs what `e` holds as an error line prefixed with `what` (nothing for a null pointer or
 * operation_aborted, an expected ending): the completion of a co_spawn that must not throw.
 */
void log_exception(std::string_view what, std::exception_ptr e);

} // namespace canal::detail
