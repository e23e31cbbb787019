// Integration: the real canal-chat executable shuts down gracefully on SIGTERM and SIGHUP
// (websockets closed with 1001, exit status 0 within 5 s).
#include "support/ws_client.hpp"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

extern char** environ; // NOLINT: POSIX

namespace {

using namespace canal::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/** A child process whose stdout is a pipe to us; killed (SIGKILL) if still running at the end. */
class ChildProcess {
public:
    explicit ChildProcess(std::vector<std::string> args) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) {
            throw std::system_error(errno, std::generic_category(), "pipe2");
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
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
        auto const deadline = Clock::now() + timeout;
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

    /** Everything the child wrote to stdout so far. */
    [[nodiscard]] std::string const& output() const noexcept { return output_; }

    bool signal(int sig) const { return ::kill(pid_, sig) == 0; }

    /** The wait status once the child exits within `timeout` (stdout keeps being drained). */
    std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
        auto const deadline = Clock::now() + timeout;
        while (!status_) {
            int status = 0;
            pid_t const r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                status_ = status;
                break;
            }
            if (Clock::now() >= deadline) {
                break;
            }
            read_output(std::min(deadline, Clock::now() + 10ms));
        }
        return status_;
    }

private:
    /** Reads what stdout has until `deadline`; false on timeout or end of stream. */
    bool read_output(Clock::time_point deadline) {
        if (eof_) {
            std::this_thread::sleep_until(deadline);
            return false;
        }
        auto const left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
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

std::string describe_status(int status) {
    if (WIFEXITED(status)) {
        return "exited with " + std::to_string(WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
    }
    return "status " + std::to_string(status);
}

} // namespace

BOOST_AUTO_TEST_SUITE(graceful_shutdown)

// SIGHUP (a closed terminal, a reload request) stops as gracefully as SIGTERM.
BOOST_DATA_TEST_CASE(sigterm_or_sighup_closes_websockets_with_1001_and_exits_0,
                     boost::unit_test::data::make({SIGTERM, SIGHUP}), signal_number) {
    ChildProcess chat{{CANAL_CHAT_EXE, "--host", "127.0.0.1", "--port", "0", "--threads", "2"}};

    std::string const prefix = "canal: listening on http://";
    auto line = chat.line_containing(prefix, 10s);
    BOOST_REQUIRE_MESSAGE(line, "no listening line on stdout within 10 s; stdout so far: '"
                                    << chat.output() << "'");
    // "canal: listening on http://HOST:PORT/"
    auto const address = line->substr(line->find(prefix) + prefix.size());
    auto const colon = address.rfind(':');
    BOOST_REQUIRE(colon != std::string::npos);
    auto const host = address.substr(0, colon);
    auto const port = static_cast<unsigned short>(std::stoi(address.substr(colon + 1)));
    BOOST_TEST_MESSAGE("canal-chat listens on " << host << ":" << port);
    BOOST_REQUIRE(port != 0);

    auto r = ws_connect(host, port, "/ws/chat/lobby/");
    BOOST_REQUIRE_MESSAGE(r, r.error << " (HTTP " << r.http_status << ")");
    BOOST_REQUIRE(r.ws->send_text(R"({"message": "before shutdown"})"));
    auto hello = r.ws->read();
    BOOST_REQUIRE_MESSAGE(hello.kind == WsFrame::Kind::text, hello.describe());

    auto const signalled = Clock::now();
    BOOST_REQUIRE(chat.signal(signal_number));
    auto f = r.ws->read(5s);
    BOOST_TEST(f.kind == WsFrame::Kind::close, "after signal " << signal_number << " the client got " << f.describe());
    BOOST_TEST(f.close_code == 1001, "after signal " << signal_number << " the client got " << f.describe());

    auto const status = chat.wait_exit(
        5s - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - signalled));
    BOOST_REQUIRE_MESSAGE(status, "canal-chat still running 5 s after signal " << signal_number);
    BOOST_TEST((WIFEXITED(*status) && WEXITSTATUS(*status) == 0), describe_status(*status));
    BOOST_TEST_MESSAGE("canal-chat exited "
                       << std::chrono::duration<double>(Clock::now() - signalled).count()
                       << " s after signal " << signal_number);
}

BOOST_AUTO_TEST_SUITE_END()
