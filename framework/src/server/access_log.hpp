// AccessLog: the server's access log (Settings::access_log). Lines are formatted on the
// calling I/O thread and written by a thread of their own, so that no I/O thread waits on a
// file; the queue between them is bounded, and lines that do not fit are counted and
// reported by a warning, never lost in silence.
#pragma once

#include <canal/core/log.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace canal::detail {

class AccessLog {
public:
    /** Lines waiting for the writer beyond which new lines are dropped (and counted). */
    static constexpr std::size_t queue_limit = 16384;

    /**
     * Writes to `target` ("-": stderr; else a file, appended to) in `format`, or hands each
     * record to `sink` on the calling thread when it is set. Throws InvalidSetting naming
     * --access-log when the file cannot be opened.
     */
    AccessLog(std::string const& target, LogFormat format,
              std::function<void(AccessRecord const&)> sink);
    ~AccessLog();
    AccessLog(AccessLog const&) = delete;
    AccessLog& operator=(AccessLog const&) = delete;

    /** Logs `record`. Any thread; never blocks on the file. */
    void write(AccessRecord const& record);
    /** Writes what is queued and ends the writer thread (also done by the destructor). */
    void close();
    /** Lines dropped because the writer could not keep up, since start. */
    [[nodiscard]] std::uint64_t dropped() const noexcept {
        return dropped_.load(std::memory_order_relaxed);
    }

private:
    void run();

    LogFormat format_;
    std::function<void(AccessRecord const&)> sink_;
    std::FILE* file_ = nullptr;
    bool owns_file_ = false;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<std::string> queue_; // guarded by mutex_
    bool closing_ = false;           // guarded by mutex_
    std::uint64_t unreported_ = 0;   // guarded by mutex_: dropped since the last warning
    std::atomic<std::uint64_t> dropped_{0};
    std::thread writer_;
};

} // namespace canal::detail
