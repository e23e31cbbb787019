// Logging: timestamped lines on stderr, serialized by a mutex so lines never interleave.
#include "detail/log.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace canal::detail {

namespace {
std::mutex log_mutex;

void emit(std::string_view level, std::string_view line) {
    auto now = std::chrono::system_clock::now();
    auto t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::lock_guard lock(log_mutex);
    std::fprintf(stderr, "%s canal %.*s %.*s\n", stamp, static_cast<int>(level.size()),
                 level.data(), static_cast<int>(line.size()), line.data());
}
} // namespace

void log_info(std::string_view line) { emit("INFO", line); }
void log_warning(std::string_view line) { emit("WARNING", line); }
void log_error(std::string_view line) { emit("ERROR", line); }

void log_exception(std::string_view what, std::exception_ptr e) {
    if (!e) {
        return;
    }
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& se) {
        if (se.code() != boost::asio::error::operation_aborted) {
            log_error(std::string(what) + ": " + se.what());
        }
    } catch (std::exception const& ex) {
        log_error(std::string(what) + ": " + ex.what());
    }
}

} // namespace canal::detail
