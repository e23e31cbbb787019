// RedisProcess: a real redis-server for a test, on a free loopback port, without persistence.
#pragma once

#include <chrono>
#include <string>
#include <sys/types.h>
#include <vector>

namespace canal::test {

/** A TCP port on 127.0.0.1 that was free a moment ago (bound, then released). */
unsigned short free_loopback_port();

/**
 * A `redis-server` child process (Debian's, from PATH or /usr/bin) listening on 127.0.0.1
 * on a free port, with `--save '' --appendonly no`: it keeps nothing across a restart.
 *
 * The constructor returns once the server answers PING (at most 5 s, else it throws); the
 * destructor kills it. stop() and start() kill and restart it on the same port, to test
 * what clients do while Redis is away. The child dies with the thread that started it
 * (PR_SET_PDEATHSIG), so a crashed test leaves no server behind.
 */
class RedisProcess {
public:
    /**
     * Starts the server.
     *
     * @param extra_args more redis-server options, e.g. `{"--requirepass", "secret"}`.
     * @throws std::runtime_error when redis-server cannot be started or does not answer.
     */
    explicit RedisProcess(std::vector<std::string> extra_args = {});
    /** Kills the server. */
    ~RedisProcess();
    RedisProcess(RedisProcess const&) = delete;
    RedisProcess& operator=(RedisProcess const&) = delete;

    /** Kills the server (SIGKILL) and waits for it to exit. Idempotent. */
    void stop();
    /** Starts the server again on the same port (after stop()); waits until it answers. */
    void start();
    /** Suspends the server (SIGSTOP): connections stay open but nothing is answered. */
    void freeze();
    /** Resumes a frozen server (SIGCONT). */
    void thaw();
    /** True while the child runs. */
    [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

    /** The TCP port. */
    [[nodiscard]] unsigned short port() const noexcept { return port_; }
    /** `127.0.0.1:PORT`. */
    [[nodiscard]] std::string address() const;
    /** `redis://127.0.0.1:PORT`. */
    [[nodiscard]] std::string url() const;

private:
    void wait_ready(std::chrono::milliseconds limit);

    std::vector<std::string> extra_args_;
    unsigned short port_ = 0;
    pid_t pid_ = -1;
};

} // namespace canal::test
