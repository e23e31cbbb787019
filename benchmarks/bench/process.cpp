// canal-bench: process statistics from /proc and getrusage, and CPU pinning.
#include "bench/process.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace canal_bench {

double own_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto tv = [](timeval t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

std::optional<double> process_cpu_seconds(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) {
        return std::nullopt;
    }
    // The command name (field 2) may contain spaces: count fields after its closing ')'.
    auto paren = line.rfind(')');
    if (paren == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream fields(line.substr(paren + 1));
    std::string field;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    for (int n = 3; n <= 15 && fields >> field; ++n) {
        if (n == 14) {
            utime = std::strtoull(field.c_str(), nullptr, 10);
        } else if (n == 15) {
            stime = std::strtoull(field.c_str(), nullptr, 10);
        }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<double> process_rss_kib(int pid) {
    std::ifstream in(pid == 0 ? std::string("/proc/self/status")
                              : "/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("VmRSS:")) {
            return std::strtod(line.c_str() + 6, nullptr);
        }
    }
    return std::nullopt;
}

bool pin_to(pid_t pid, std::vector<int> const& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : cpus) {
        CPU_SET(c, &set);
    }
    return sched_setaffinity(pid, sizeof(set), &set) == 0;
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) {
        return "exit status " + std::to_string(WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
               strsignal(WTERMSIG(status)) + ")";
    }
    return "wait status " + std::to_string(status);
}

} // namespace canal_bench
