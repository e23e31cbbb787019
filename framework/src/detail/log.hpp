// Minimal logging to stderr, one line per call, safe from any thread. Every line is made
// safe to log: control characters escaped, length capped (loggable()).
#pragma once

#include <cstddef>
#include <exception>
#include <string>
#include <string_view>

namespace canal::detail {

/** The longest line the logger writes (escaped, before the timestamp and level). */
inline constexpr std::size_t max_log_line = 2048;

/** The longest client-controlled value (a path, a header, a room name) worth logging. */
inline constexpr std::size_t max_log_value = 200;

/**
 * `value` made safe for a log line: `\n` becomes the two characters `\` `n`, other bytes
 * below 0x20 and 0x7f become `\xHH`, so a client cannot start a line of its own; and at
 * most `max` bytes are kept (escapes included, never half an escape or UTF-8 sequence),
 * followed by ` ... [N bytes cut]` when something was cut. The logger applies it to every
 * line (with max_log_line); callers apply it to a client's value to keep it short.
 */
std::string loggable(std::string_view value, std::size_t max = max_log_value);

void log_info(std::string_view line);
void log_warning(std::string_view line);
void log_error(std::string_view line);

/**
 * Logs what `e` holds as an error line prefixed with `what` (nothing for a null pointer or
 * operation_aborted, an expected ending): the completion of a co_spawn that must not throw.
 */
void log_exception(std::string_view what, std::exception_ptr e);

} // namespace canal::detail
