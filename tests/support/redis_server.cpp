// RedisProcess: fork/exec of redis-server, readiness by PING over a plain socket.
#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace canal::test {

namespace {

sockaddr_in loopback(unsigned short port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return addr;
}

// What the server at `port` answers to PING ("" when it cannot be reached).
std::string ping(unsigned short port) {
    int const fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return {};
    }
    timeval tv{};
    tv.tv_usec = 500 * 1000;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    auto addr = loopback(port);
    std::string answer;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        constexpr char request[] = "PING\r\n";
        if (::send(fd, request, sizeof request - 1, MSG_NOSIGNAL) ==
            static_cast<ssize_t>(sizeof request - 1)) {
            char buffer[128];
            auto const n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n > 0) {
                answer.assign(buffer, static_cast<std::size_t>(n));
            }
        }
    }
    ::close(fd);
    return answer;
}

} // namespace

unsigned short free_loopback_port() {
    int const fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw std::runtime_error(std::string("socket(): ") + std::strerror(errno));
    }
    auto addr = loopback(0);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        auto const why = std::string(std::strerror(errno));
        ::close(fd);
        throw std::runtime_error("cannot find a free loopback port: " + why);
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

RedisProcess::RedisProcess(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), port_(free_loopback_port()) {
    start();
}

RedisProcess::~RedisProcess() { stop(); }

std::string RedisProcess::address() const { return "127.0.0.1:" + std::to_string(port_); }

std::string RedisProcess::url() const { return "redis://" + address(); }

void RedisProcess::start() {
    if (pid_ > 0) {
        return;
    }
    std::vector<std::string> args{"redis-server",
                                  "--port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--save",
                                  "",
                                  "--appendonly",
                                  "no",
                                  "--loglevel",
                                  "warning",
                                  "--logfile",
                                  "",
                                  "--daemonize",
                                  "no"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t const parent = ::getpid();
    pid_t const pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error(std::string("fork(): ") + std::strerror(errno));
    }
    if (pid == 0) {
        // The child: only async-signal-safe calls until exec.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) {
            ::_exit(127);
        }
        int const null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, STDIN_FILENO);
            ::dup2(null, STDOUT_FILENO);
            ::dup2(null, STDERR_FILENO);
        }
        ::execvp("redis-server", argv.data());
        ::execv("/usr/bin/redis-server", argv.data());
        ::_exit(127);
    }
    pid_ = pid;
    wait_ready(std::chrono::seconds(5));
}

void RedisProcess::wait_ready(std::chrono::milliseconds limit) {
    auto const deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto const answer = ping(port_);
        // "+PONG", or "-NOAUTH ..." from a server started with --requirepass.
        if (answer.starts_with("+PONG") || answer.starts_with("-NOAUTH")) {
            return;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("redis-server on port " + std::to_string(port_) +
                                     " exited at start (is it installed? scripts/setup "
                                     "installs redis-server; is the port taken?)");
        }
        if (std::chrono::steady_clock::now() > deadline) {
            stop();
            throw std::runtime_error("redis-server on port " + std::to_string(port_) +
                                     " did not answer PING within " +
                                     std::to_string(limit.count()) + " ms");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void RedisProcess::freeze() {
    if (pid_ > 0) {
        ::kill(pid_, SIGSTOP);
    }
}

void RedisProcess::thaw() {
    if (pid_ > 0) {
        ::kill(pid_, SIGCONT);
    }
}

void RedisProcess::stop() {
    if (pid_ <= 0) {
        return;
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

} // namespace canal::test
