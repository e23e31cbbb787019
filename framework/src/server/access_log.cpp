// AccessLog: formatted lines queued for a writer thread.
#include "server/access_log.hpp"

#include <canal/server/settings.hpp>

#include "detail/log.hpp"

#include <cerrno>
#include <cstring>

namespace canal::detail {

AccessLog::AccessLog(std::string const& target, LogFormat format,
                     std::function<void(AccessRecord const&)> sink)
    : format_(format), sink_(std::move(sink)) {
    if (sink_) {
        return;
    }
    if (target == "-") {
        file_ = stderr;
    } else {
        file_ = std::fopen(target.c_str(), "ae");
        if (file_ == nullptr) {
            throw InvalidSetting("--access-log: cannot open '" + target +
                                 "' for writing: " + std::strerror(errno));
        }
        owns_file_ = true;
    }
    writer_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() { close(); }

void AccessLog::write(AccessRecord const& record) {
    if (sink_) {
        sink_(record);
        return;
    }
    auto line = format_access_record(record, format_);
    line += '\n';
    {
        std::lock_guard lock(mutex_);
        if (closing_) {
            return;
        }
        if (queue_.size() >= queue_limit) {
            ++unreported_;
            dropped_.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        queue_.push_back(std::move(line));
    }
    wake_.notify_one();
}

void AccessLog::close() {
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
    }
    wake_.notify_one();
    if (writer_.joinable()) {
        writer_.join();
    }
    if (owns_file_ && file_ != nullptr) {
        std::fclose(file_);
    }
    file_ = nullptr;
    owns_file_ = false;
}

void AccessLog::run() {
    std::vector<std::string> batch;
    for (;;) {
        std::uint64_t lost = 0;
        bool last = false;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return closing_ || !queue_.empty(); });
            batch.swap(queue_);
            lost = unreported_;
            unreported_ = 0;
            last = closing_;
        }
        for (auto const& line : batch) {
            std::fwrite(line.data(), 1, line.size(), file_);
        }
        std::fflush(file_);
        batch.clear();
        if (lost != 0) {
            log_warning("access log: " + std::to_string(lost) +
                        " lines dropped: the log could not keep up");
        }
        if (last) {
            return;
        }
    }
}

} // namespace canal::detail
