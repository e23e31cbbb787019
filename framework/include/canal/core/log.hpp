// Logging: canal's log lines (levels, text or JSON, a sink hook) and the access log's records.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace canal {

/** How important a log line is; lines below the level in force (set_log_level()) are skipped. */
enum class LogLevel { debug = 10, info = 20, warning = 30, error = 40, off = 100 };

/** How a line is written by the default sink and by the access log. */
enum class LogFormat {
    /** `2026-12-03T16:50:00Z canal INFO message` (the access log: Common Log Format). */
    text,
    /** One JSON object per line: time, level, logger, message (access log: its fields). */
    json,
};

/** One log line, as a sink receives it. */
struct LogRecord {
    /** When the line was logged. */
    std::chrono::system_clock::time_point time;
    /** Its level. */
    LogLevel level = LogLevel::info;
    /** Who logs: "canal" for the framework and applications, "canal.access" for the access log. */
    std::string_view logger;
    /** The line, made safe: control characters escaped, at most 2048 bytes. */
    std::string_view message;
};

/** Receives every line logged at or above the level in force (see set_log_sink()). */
using LogSink = std::function<void(LogRecord const&)>;

/** Lines below `level` are skipped (default LogLevel::info; `--log-level`). Any thread. */
void set_log_level(LogLevel level) noexcept;
/** The level in force. */
[[nodiscard]] LogLevel log_level() noexcept;
/** The format of the default sink (stderr) and of the access log (`--log-format`). Any thread. */
void set_log_format(LogFormat format) noexcept;
/** The format in force (default LogFormat::text). */
[[nodiscard]] LogFormat log_format() noexcept;
/**
 * Sends every line to `sink` instead of stderr; an empty sink restores stderr. The sink is
 * called on the logging thread, one line at a time (never concurrently), and must not log.
 */
void set_log_sink(LogSink sink);

/** Logs `message` at `level` (made safe first: see LogRecord::message). Any thread. */
void log(LogLevel level, std::string_view message);
/** The level's name as logged: DEBUG, INFO, WARNING, ERROR, OFF. */
[[nodiscard]] std::string_view to_string(LogLevel level) noexcept;
/** The level a name means (debug, info, warning, error, off; any case), or nothing. */
[[nodiscard]] std::optional<LogLevel> parse_log_level(std::string_view name) noexcept;

/**
 * One line of the access log: an HTTP request with its response, or a websocket's handshake
 * and, later, its end. Strings point into the server's memory for the call only.
 */
struct AccessRecord {
    /** When the request or connection began. */
    std::chrono::system_clock::time_point time;
    /** The client's address (after --proxy-headers), or "-" when unknown (a unix socket). */
    std::string_view client;
    /** The HTTP method, or WSCONNECT, WSREJECT, WSDISCONNECT (daphne's words). */
    std::string_view method;
    /** The path, with `?` and the query string when there is one. */
    std::string_view path;
    /** `HTTP/1.1` or `HTTP/1.0`; empty for websockets. */
    std::string_view protocol;
    /** The HTTP status; 101 for WSCONNECT; the close code for WSDISCONNECT. */
    int status = 0;
    /** Body bytes sent; -1 when it does not apply (websockets). */
    std::int64_t bytes = -1;
    /** How long it took: the response, the handshake, or the websocket's life. */
    std::chrono::microseconds duration{0};
};

/**
 * `record` as one line (without the newline). Text: the Common Log Format with the duration
 * in seconds appended, `127.0.0.1 - - [03/Dec/2026:16:50:00 +0000] "GET /chat/ HTTP/1.1" 200
 * 1530 0.000412`; JSON: `{"time":...,"logger":"canal.access","client":...,"method":...,
 * "path":...,"status":...,"bytes":...,"duration":...}`. Client-controlled text is escaped.
 */
[[nodiscard]] std::string format_access_record(AccessRecord const& record, LogFormat format);

} // namespace canal
