// A child process for tests that run canal's executables: its output is read through a pipe
// with deadlines, and it is killed if a test ends while it still runs.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

extern char** environ; // NOLINT: POSIX

namespace canal::test {

/**
 * A child process whose stdout (and stderr, with `merge_stderr`) is a pipe to us; killed
 * (SIGKILL) if still running at the end.
 */
class ChildProcess {
public:
    explicit ChildProcess(std::vector<std::string> args, bool merge_stderr = false) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) {
            throw std::system_error(errno, std::generic_category(), "pipe2");
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
        if (merge_stderr) {
            posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
        }
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        int const rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        out_ = fds[0];
        if (rc != 0) {
            ::close(out_);
            throw std::system_error(rc, std::generic_category(), "posix_spawn " + args[0]);
        }
    }
    ~ChildProcess() {
        if (pid_ > 0 && !status_) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        ::close(out_);
    }
    ChildProcess(ChildProcess const&) = delete;
    ChildProcess& operator=(ChildProcess const&) = delete;

    /** The first stdout line containing `needle`, waiting up to `timeout`. */
    std::optional<std::string> line_containing(std::string const& needle,
                                               std::chrono::milliseconds timeout) {
        auto const deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            std::size_t start = 0;
            for (auto nl = output_.find('\n'); nl != std::string::npos;
                 nl = output_.find('\n', start)) {
                auto line = output_.substr(start, nl - start);
                start = nl + 1;
                if (line.find(needle) != std::string::npos) {
                    return line;
                }
            }
            if (!read_output(deadline)) {
                return std::nullopt;
            }
        }
    }

    /** Everything the child wrote to the pipe so far. */
    [[nodiscard]] std::string const& output() const noexcept { return output_; }

    bool signal(int sig) const { return ::kill(pid_, sig) == 0; }

    /**
     * The wait status once the child exits within `timeout`. Its output is read meanwhile,
     * and to the end once it has exited: output() then holds everything it wrote.
     */
    std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
        auto const deadline = std::chrono::steady_clock::now() + timeout;
        while (!status_) {
            int status = 0;
            pid_t const r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                status_ = status;
                break;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                break;
            }
            read_output(std::min(deadline, std::chrono::steady_clock::now() +
                                               std::chrono::milliseconds(10)));
        }
        // The pipe may still hold what the child wrote last: read up to its end.
        while (status_ && !eof_ && read_output(deadline)) {
        }
        return status_;
    }

private:
    /** Reads what stdout has until `deadline`; false on timeout or end of stream. */
    bool read_output(std::chrono::steady_clock::time_point deadline) {
        if (eof_) {
            std::this_thread::sleep_until(deadline);
            return false;
        }
        auto const left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{out_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count()))) <= 0) {
            return false;
        }
        char buf[4096];
        auto const n = ::read(out_, buf, sizeof buf);
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        output_.append(buf, static_cast<std::size_t>(n));
        return true;
    }

    pid_t pid_ = -1;
    int out_ = -1;
    bool eof_ = false;
    std::string output_;
    std::optional<int> status_;
};

/** "exited with 2", "killed by signal Killed"...: a wait status for failure messages. */
inline std::string describe_status(int status) {
    if (WIFEXITED(status)) {
        return "exited with " + std::to_string(WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
    }
    return "status " + std::to_string(status);
}

} // namespace canal::test
