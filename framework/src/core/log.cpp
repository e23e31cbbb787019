// canal's logger: a level and a format in force for the process, one sink at a time (stderr
// by default), lines serialized by a mutex so they never interleave; and the access log's
// line formats.
#include <canal/core/log.hpp>

#include "detail/log.hpp"

#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace canal {

namespace {

std::atomic<LogLevel> level_in_force{LogLevel::info};
std::atomic<LogFormat> format_in_force{LogFormat::text};
std::mutex sink_mutex;
LogSink& sink_slot() {
    static LogSink sink; // guarded by sink_mutex
    return sink;
}

std::tm utc(std::chrono::system_clock::time_point t) {
    auto const seconds = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    return tm;
}

// ISO 8601 in UTC, with milliseconds when `millis`.
std::string iso_time(std::chrono::system_clock::time_point t, bool millis) {
    auto const tm = utc(t);
    std::array<char, 40> out{};
    auto n = std::strftime(out.data(), out.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (millis) {
        auto const ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            t.time_since_epoch()).count() % 1000;
        n += static_cast<std::size_t>(
            std::snprintf(out.data() + n, out.size() - n, ".%03d", static_cast<int>(ms)));
    }
    return std::string(out.data(), n) + "Z";
}

// The length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    auto const b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    auto const c = b(i);
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c < 0x80) {
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (i + n > s.size() || b(i + 1) < lo || b(i + 1) > hi) {
        return 0;
    }
    for (std::size_t k = 2; k < n; ++k) {
        if ((b(i + k) & 0xC0) != 0x80) {
            return 0;
        }
    }
    return n;
}

// `s` as a JSON string: quotes, backslashes and control characters escaped, bytes that are
// not UTF-8 replaced by U+FFFD, so that every line parses.
void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        auto const c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
            ++i;
        } else if (c < 0x20) {
            std::array<char, 8> esc{};
            std::snprintf(esc.data(), esc.size(), "\\u%04x", c);
            out += esc.data();
            ++i;
        } else if (auto const n = utf8_sequence(s, i); n != 0) {
            out.append(s.substr(i, n));
            i += n;
        } else {
            out += "\\ufffd";
            ++i;
        }
    }
    out += '"';
}

// A client's text inside the Common Log Format's quotes: made loggable, quotes escaped.
std::string clf_text(std::string_view s) {
    auto safe = detail::loggable(s, 1024);
    std::string out;
    out.reserve(safe.size());
    for (char c : safe) {
        if (c == '"') {
            out += "\\x22";
        } else {
            out += c;
        }
    }
    return out;
}

std::string seconds_text(std::chrono::microseconds d) {
    std::array<char, 32> out{};
    std::snprintf(out.data(), out.size(), "%.6f", static_cast<double>(d.count()) / 1e6);
    return out.data();
}

void write_default(LogRecord const& r) {
    std::string line;
    if (format_in_force.load(std::memory_order_relaxed) == LogFormat::json) {
        line = "{\"time\":\"" + iso_time(r.time, true) + "\",\"level\":\"";
        line += to_string(r.level);
        line += "\",\"logger\":";
        append_json_string(line, r.logger);
        line += ",\"message\":";
        append_json_string(line, r.message);
        line += "}\n";
    } else {
        line = iso_time(r.time, false) + " canal ";
        line += to_string(r.level);
        line += ' ';
        line += r.message;
        line += '\n';
    }
    std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace

void set_log_level(LogLevel level) noexcept { level_in_force.store(level, std::memory_order_relaxed); }
LogLevel log_level() noexcept { return level_in_force.load(std::memory_order_relaxed); }
void set_log_format(LogFormat format) noexcept {
    format_in_force.store(format, std::memory_order_relaxed);
}
LogFormat log_format() noexcept { return format_in_force.load(std::memory_order_relaxed); }

void set_log_sink(LogSink sink) {
    std::lock_guard lock(sink_mutex);
    sink_slot() = std::move(sink);
}

void log(LogLevel level, std::string_view message) {
    if (level < log_level() || level == LogLevel::off) {
        return;
    }
    auto const line = detail::loggable(message, detail::max_log_line);
    LogRecord const record{std::chrono::system_clock::now(), level, "canal", line};
    std::lock_guard lock(sink_mutex);
    if (auto const& sink = sink_slot()) {
        sink(record);
    } else {
        write_default(record);
    }
}

std::string_view to_string(LogLevel level) noexcept {
    switch (level) {
    case LogLevel::debug: return "DEBUG";
    case LogLevel::info: return "INFO";
    case LogLevel::warning: return "WARNING";
    case LogLevel::error: return "ERROR";
    case LogLevel::off: return "OFF";
    }
    return "INFO";
}

std::optional<LogLevel> parse_log_level(std::string_view name) noexcept {
    std::string lower;
    for (char c : name) {
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    for (auto level : {LogLevel::debug, LogLevel::info, LogLevel::warning, LogLevel::error,
                       LogLevel::off}) {
        std::string known;
        for (char c : to_string(level)) {
            known += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        if (lower == known) {
            return level;
        }
    }
    return std::nullopt;
}

std::string format_access_record(AccessRecord const& r, LogFormat format) {
    std::string line;
    if (format == LogFormat::json) {
        line = "{\"time\":\"" + iso_time(r.time, true) + "\",\"logger\":\"canal.access\",\"client\":";
        append_json_string(line, r.client.empty() ? std::string_view("-") : r.client);
        line += ",\"method\":";
        append_json_string(line, r.method);
        line += ",\"path\":";
        append_json_string(line, r.path);
        line += ",\"status\":" + std::to_string(r.status);
        line += ",\"bytes\":" + (r.bytes < 0 ? std::string("null") : std::to_string(r.bytes));
        line += ",\"duration\":" + seconds_text(r.duration) + "}";
        return line;
    }
    auto const tm = utc(r.time);
    std::array<char, 40> stamp{};
    std::strftime(stamp.data(), stamp.size(), "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
    line = r.client.empty() ? std::string("-") : clf_text(r.client);
    line += " - - ";
    line += stamp.data();
    line += " \"" + clf_text(r.method) + " " + clf_text(r.path);
    if (!r.protocol.empty()) {
        line += " " + clf_text(r.protocol);
    }
    line += "\" ";
    line += std::to_string(r.status) + " ";
    line += r.bytes < 0 ? std::string("-") : std::to_string(r.bytes);
    line += " " + seconds_text(r.duration);
    return line;
}

} // namespace canal
