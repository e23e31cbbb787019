// The framework's log calls (canal::log at a level) and loggable(): lines made safe to log.
#include "detail/log.hpp"

#include <canal/core/log.hpp>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace canal::detail {

std::string loggable(std::string_view value, std::size_t max) {
    std::string out;
    out.reserve(std::min(value.size(), max) + 32);
    std::size_t i = 0;
    for (; i < value.size(); ++i) {
        auto const c = static_cast<unsigned char>(value[i]);
        char escaped[8];
        std::string_view piece(&value[i], 1);
        if (c == '\n') {
            piece = "\\n";
        } else if (c < 0x20 || c == 0x7f) {
            std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
            piece = std::string_view(escaped, 4);
        }
        if (out.size() + piece.size() > max) {
            break;
        }
        out += piece;
    }
    if (i == value.size()) {
        return out;
    }
    // Never cut inside a UTF-8 sequence: when value[i] continues one, give back its lead
    // and continuation bytes already kept (bytes >= 0x80 are kept as they are).
    auto const continuation = [&](std::size_t k) {
        return (static_cast<unsigned char>(value[k]) & 0xC0) == 0x80;
    };
    if (continuation(i)) {
        std::size_t j = i;
        while (j > 0 && i - j < 3 && continuation(j - 1)) {
            --j;
        }
        if (j > 0 && static_cast<unsigned char>(value[j - 1]) >= 0xC0) {
            --j;
        }
        out.resize(out.size() - (i - j));
        i = j;
    }
    out += " ... [" + std::to_string(value.size() - i) + " bytes cut]";
    return out;
}

void log_info(std::string_view line) { canal::log(LogLevel::info, line); }
void log_warning(std::string_view line) { canal::log(LogLevel::warning, line); }
void log_error(std::string_view line) { canal::log(LogLevel::error, line); }

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
