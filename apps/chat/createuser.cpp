// `canal-chat createuser`: adds a user to a users file, the password read from stdin.
#include "multichat_app.hpp"

#include <canal/middleware/json_file_user_store.hpp>

#include <cstdlib>
#include <iostream>
#include <termios.h>
#include <unistd.h>
#include <utility>

namespace chat {

// --- createuser -------------------------------------------------------------------------

namespace {

// Reads one line from a terminal without echoing it.
std::optional<std::string> read_hidden(std::istream& in, std::ostream& out, char const* prompt) {
    out << prompt << std::flush;
    termios old{};
    bool const restore = tcgetattr(STDIN_FILENO, &old) == 0;
    if (restore) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::string line;
    bool const ok = static_cast<bool>(std::getline(in, line));
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
    }
    out << "\n";
    if (!ok) {
        return std::nullopt;
    }
    return line;
}

} // namespace

int createuser_main(std::vector<std::string> const& args, std::istream& in, std::ostream& out,
                    std::ostream& err, bool terminal) {
    auto const usage = "usage: canal-chat createuser --users FILE NAME [--staff]\n"
                       "  reads the password from stdin (prompted without echo on a terminal)\n";
    std::string file;
    std::string name;
    bool staff = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        auto const& a = args[i];
        if (a == "--users" && i + 1 < args.size()) {
            file = args[++i];
        } else if (a.rfind("--users=", 0) == 0) {
            file = a.substr(8);
        } else if (a == "--staff") {
            staff = true;
        } else if (a == "-h" || a == "--help") {
            out << usage;
            return 0;
        } else if (!a.empty() && a[0] != '-' && name.empty()) {
            name = a;
        } else {
            err << "canal-chat createuser: unexpected argument '" << a << "'\n" << usage;
            return 2;
        }
    }
    if (file.empty() || name.empty()) {
        err << usage;
        return 2;
    }
    if (!canal::JsonFileUserStore::is_valid_username(name)) {
        err << "canal-chat createuser: username '" << name
            << "' is not allowed: use 1 to 150 letters, digits and @.+-_\n";
        return 2;
    }
    std::string password;
    if (terminal) {
        auto first = read_hidden(in, out, "Password: ");
        auto second = first ? read_hidden(in, out, "Password (again): ") : std::nullopt;
        if (!first || !second) {
            err << "canal-chat createuser: no password given\n";
            return 1;
        }
        if (*first != *second) {
            err << "canal-chat createuser: the passwords differ\n";
            return 1;
        }
        password = std::move(*first);
    } else if (!std::getline(in, password)) {
        err << "canal-chat createuser: no password on stdin\n";
        return 1;
    }
    if (!password.empty() && password.back() == '\r') {
        password.pop_back();
    }
    try {
        canal::JsonFileUserStore store(file);
        store.create_user(name, password, staff);
    } catch (std::exception const& e) {
        err << "canal-chat createuser: " << e.what() << "\n";
        return 1;
    }
    out << "created " << (staff ? "staff user '" : "user '") << name << "' in " << file << "\n";
    return 0;
}

int createuser_main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return createuser_main(args, std::cin, std::cout, std::cerr, isatty(STDIN_FILENO) == 1);
}

} // namespace chat
