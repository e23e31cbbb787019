// canal-bench: the spawned server: fork/exec, read the port from its stdout, SIGTERM + wait
// when destroyed.
#pragma once

#include "bench/common.hpp"
#include "bench/options.hpp"
#include "bench/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace canal_bench {

class ServerProcess {
public:
    explicit ServerProcess(Options const& o) {
        if (access(o.spawn.c_str(), X_OK) != 0) {
            throw std::runtime_error("cannot execute '" + o.spawn + "': " + std::strerror(errno) +
                                     " (--spawn wants the canal-chat executable, e.g. "
                                     "build/bench/apps/chat/canal-chat, or a peer server "
                                     "such as benchmarks/peers/uws_server.js)");
        }
        std::vector<std::string> args = {o.spawn,
                                         "--host",
                                         o.host,
                                         "--port",
                                         "0",
                                         "--threads",
                                         std::to_string(o.server_threads)};
        args.insert(args.end(), o.server_args.begin(), o.server_args.end());
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c : o.server_cpus) {
            CPU_SET(c, &set);
        }
        bool pin = !o.server_cpus.empty();

        std::array<int, 2> fds{};
        if (pipe2(fds.data(), O_CLOEXEC) != 0) {
            throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
        }
        pid_t parent = getpid();
        pid_ = fork();
        if (pid_ < 0) {
            int e = errno;
            close(fds[0]);
            close(fds[1]);
            throw std::runtime_error(std::string("fork: ") + std::strerror(e));
        }
        if (pid_ == 0) {
            // Only async-signal-safe calls until exec. The server dies with us, even if we crash.
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent) {
                _exit(1);
            }
            if (pin && sched_setaffinity(0, sizeof(set), &set) != 0) {
                static constexpr char msg[] = "canal-bench: cannot pin the server (--server-cpu)\n";
                (void)!write(2, msg, sizeof(msg) - 1);
                _exit(126);
            }
            dup2(fds[1], 1);
            execv(argv[0], argv.data());
            static constexpr char msg[] = "canal-bench: exec of the server failed\n";
            (void)!write(2, msg, sizeof(msg) - 1);
            _exit(127);
        }
        close(fds[1]);
        out_fd_ = fds[0];
        try {
            wait_for_port(std::chrono::seconds(10));
        } catch (...) {
            stop();
            throw;
        }
    }

    ServerProcess(ServerProcess const&) = delete;
    ServerProcess& operator=(ServerProcess const&) = delete;
    ~ServerProcess() { stop(); }

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] unsigned short port() const { return port_; }

    /** Hands the read end of the server's stdout to the caller (who forwards it). */
    int take_output_fd() { return std::exchange(out_fd_, -1); }

    /** True once the server has exited (then reaped; see status()). */
    bool exited() {
        if (!reaped_ && pid_ > 0 && waitpid(pid_, &status_, WNOHANG) == pid_) {
            reaped_ = true;
        }
        return reaped_;
    }

    [[nodiscard]] std::string status() const {
        return reaped_ ? describe_wait_status(status_) : std::string("running");
    }

    /** SIGTERM, wait up to 5 s (canal shuts down gracefully in 3 s), then SIGKILL. */
    std::string stop() {
        if (pid_ > 0 && !exited()) {
            kill(pid_, SIGTERM);
            auto deadline = Clock::now() + std::chrono::seconds(5);
            while (!exited() && Clock::now() < deadline) {
                usleep(10'000);
            }
            if (!exited()) {
                kill(pid_, SIGKILL);
                if (waitpid(pid_, &status_, 0) == pid_) {
                    reaped_ = true;
                }
                killed_ = true;
            }
        }
        if (out_fd_ >= 0) {
            close(out_fd_);
            out_fd_ = -1;
        }
        return killed_ ? "did not stop within 5 s of SIGTERM: " + status() : status();
    }

private:
    void wait_for_port(std::chrono::seconds limit) {
        // canal-chat prints "canal: listening on http://HOST:PORT/"; the peer servers in
        // benchmarks/peers print the same after their own name.
        static constexpr std::string_view prefix = "listening on http://";
        auto deadline = Clock::now() + limit;
        std::string pending;
        for (;;) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) {
                throw std::runtime_error("the server did not print '" + std::string(prefix) +
                                         "HOST:PORT/' within " + std::to_string(limit.count()) +
                                         " s");
            }
            pollfd pfd{};
            pfd.fd = out_fd_;
            pfd.events = POLLIN;
            int ready = poll(&pfd, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
            if (ready <= 0) {
                continue;
            }
            std::array<char, 4096> buf{};
            ssize_t n = read(out_fd_, buf.data(), buf.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                // stdout closed: the server is gone (or about to be).
                if (waitpid(pid_, &status_, 0) == pid_) {
                    reaped_ = true;
                }
                throw std::runtime_error("the server exited before it was listening (" + status() +
                                         ")");
            }
            pending.append(buf.data(), static_cast<std::size_t>(n));
            std::size_t eol = 0;
            while ((eol = pending.find('\n')) != std::string::npos) {
                std::string line = pending.substr(0, eol);
                pending.erase(0, eol + 1);
                auto at = line.find(prefix);
                if (at == std::string::npos) {
                    std::cerr << "server: " << line << "\n";
                    continue;
                }
                // HOST may be an IPv6 address with colons: the port follows the last one.
                std::string_view rest = std::string_view(line).substr(at + prefix.size());
                auto colon = rest.rfind(':');
                auto slash = rest.find('/', colon == std::string_view::npos ? 0 : colon);
                unsigned port = 0;
                if (colon != std::string_view::npos && slash != std::string_view::npos) {
                    auto digits = rest.substr(colon + 1, slash - colon - 1);
                    std::from_chars(digits.data(), digits.data() + digits.size(), port);
                }
                if (port == 0 || port > 65535) {
                    throw std::runtime_error("cannot read the port in the server's line '" + line +
                                             "'");
                }
                port_ = static_cast<unsigned short>(port);
                if (!pending.empty()) {
                    std::cerr << "server: " << pending;
                }
                return;
            }
        }
    }

    pid_t pid_ = -1;
    int out_fd_ = -1;
    unsigned short port_ = 0;
    int status_ = 0;
    bool reaped_ = false;
    bool killed_ = false;
};

} // namespace canal_bench
