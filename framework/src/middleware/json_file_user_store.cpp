// JsonFileUserStore: users in a JSON file, password hashes only, written atomically.
#include <canal/middleware/json_file_user_store.hpp>

#include <canal/core/errors.hpp>
#include <canal/middleware/password.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <unistd.h>

namespace canal {

namespace {

std::string const& dummy_hash() {
    // Checked against when the user does not exist, so that the answer takes as long.
    static std::string const hash = make_password("canal-no-such-user");
    return hash;
}

} // namespace

JsonFileUserStore::JsonFileUserStore(std::filesystem::path file) : file_(std::move(file)) {
    std::error_code ec;
    if (!std::filesystem::exists(file_, ec)) {
        return;
    }
    std::ifstream in(file_, std::ios::binary);
    if (!in) {
        throw Error("cannot read the users file " + file_.string() + ": " + std::strerror(errno));
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto const bad = [&](std::string const& why) {
        return Error("users file " + file_.string() + " is invalid: " + why +
                     " (expected {\"users\": [{\"username\": ..., \"password\": ..., "
                     "\"is_staff\": false}]})");
    };
    boost::system::error_code jec;
    auto doc = boost::json::parse(text, jec);
    if (jec) {
        throw bad("not JSON (" + jec.message() + ")");
    }
    auto const* root = doc.if_object();
    auto const* list = root != nullptr ? root->if_contains("users") : nullptr;
    if (list == nullptr || !list->is_array()) {
        throw bad("no \"users\" list");
    }
    for (auto const& item : list->as_array()) {
        auto const* obj = item.if_object();
        auto const* name = obj != nullptr ? obj->if_contains("username") : nullptr;
        auto const* pass = obj != nullptr ? obj->if_contains("password") : nullptr;
        auto const* staff = obj != nullptr ? obj->if_contains("is_staff") : nullptr;
        if (name == nullptr || !name->is_string() || pass == nullptr || !pass->is_string() ||
            (staff != nullptr && !staff->is_bool())) {
            throw bad("a user needs a string \"username\" and \"password\"");
        }
        std::string username(name->as_string());
        if (!is_valid_username(username)) {
            throw bad("username '" + username + "' is not allowed");
        }
        if (password_iterations(pass->as_string()) == 0) {
            throw bad("the password of '" + username + "' is not a pbkdf2_sha256 hash");
        }
        Record record{std::string(pass->as_string()), staff != nullptr && staff->as_bool()};
        users_.insert_or_assign(std::move(username), std::move(record));
    }
}

std::optional<User> JsonFileUserStore::get(std::string_view username) const {
    std::lock_guard lock{mutex_};
    auto found = users_.find(username);
    if (found == users_.end()) {
        return std::nullopt;
    }
    return User{found->first, found->second.is_staff};
}

std::optional<User> JsonFileUserStore::authenticate(std::string_view username,
                                                    std::string_view password) const {
    std::optional<Record> record;
    {
        std::lock_guard lock{mutex_};
        if (auto found = users_.find(username); found != users_.end()) {
            record = found->second;
        }
    }
    if (!record) {
        (void)check_password(password, dummy_hash());
        return std::nullopt;
    }
    if (!check_password(password, record->password)) {
        return std::nullopt;
    }
    return User{std::string(username), record->is_staff};
}

void JsonFileUserStore::create_user(std::string const& username, std::string_view password,
                                    bool is_staff, unsigned iterations) {
    if (!is_valid_username(username)) {
        throw std::invalid_argument("username '" + username +
                                    "' is not allowed: use 1 to 150 letters, digits and @.+-_");
    }
    if (password.empty()) {
        throw std::invalid_argument("the password is empty");
    }
    auto hash = make_password(password, iterations == 0 ? default_password_iterations : iterations);
    std::lock_guard lock{mutex_};
    if (users_.contains(username)) {
        throw std::invalid_argument("user '" + username + "' already exists");
    }
    users_.emplace(username, Record{std::move(hash), is_staff});
    try {
        write_file();
    } catch (...) {
        users_.erase(username);
        throw;
    }
}

bool JsonFileUserStore::is_valid_username(std::string_view username) noexcept {
    if (username.empty() || username.size() > 150) {
        return false;
    }
    for (char c : username) {
        bool const ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '@' || c == '.' || c == '+' || c == '-' ||
                        c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::size_t JsonFileUserStore::size() const {
    std::lock_guard lock{mutex_};
    return users_.size();
}

// Called with the mutex held.
void JsonFileUserStore::write_file() const {
    boost::json::array list;
    for (auto const& [name, record] : users_) {
        boost::json::object user;
        user["username"] = name;
        user["password"] = record.password;
        user["is_staff"] = record.is_staff;
        list.push_back(std::move(user));
    }
    boost::json::object root;
    root["users"] = std::move(list);
    auto const text = boost::json::serialize(root) + "\n";

    auto const tmp = file_.string() + ".tmp";
    auto const fail = [&](std::string const& what) {
        return Error("cannot write the users file " + file_.string() + ": " + what + ": " +
                     std::strerror(errno));
    };
    int const fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        throw fail("open " + tmp);
    }
    std::size_t done = 0;
    while (done < text.size()) {
        auto const n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            auto err = fail("write");
            ::close(fd);
            ::unlink(tmp.c_str());
            throw err;
        }
        done += static_cast<std::size_t>(n);
    }
    bool const synced = ::fsync(fd) == 0;
    if (::close(fd) != 0 || !synced) {
        auto err = fail("fsync/close");
        ::unlink(tmp.c_str());
        throw err;
    }
    if (::rename(tmp.c_str(), file_.c_str()) != 0) {
        auto err = fail("rename");
        ::unlink(tmp.c_str());
        throw err;
    }
}

} // namespace canal
