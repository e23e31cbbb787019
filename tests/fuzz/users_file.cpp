// Fuzz target: the users file (JsonFileUserStore), read at startup and by `canal-chat
// createuser`. The file goes through a memfd, so that the real constructor reads it. A bad
// file is a canal::Error naming it; users it accepts have valid names and Django hashes.
#include <canal/middleware/json_file_user_store.hpp>

#include <canal/core/errors.hpp>
#include <canal/middleware/password.hpp>

#include "fuzz_input.hpp"

#include <boost/json/parse.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <optional>
#include <string>

namespace {

/** A file in memory, named by its /proc/self/fd path. */
class MemFile {
public:
    explicit MemFile(std::string_view content) : fd_(::memfd_create("users", 0)) {
        if (fd_ < 0 || ::write(fd_, content.data(), content.size()) !=
                           static_cast<ssize_t>(content.size())) {
            canal::fuzz::broken("memfd_create/write failed");
        }
    }
    ~MemFile() { ::close(fd_); }
    MemFile(MemFile const&) = delete;
    MemFile& operator=(MemFile const&) = delete;
    [[nodiscard]] std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

private:
    int fd_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto const text = canal::fuzz::text(data, size);
    MemFile file(text);
    std::optional<canal::JsonFileUserStore> store;
    try {
        store.emplace(file.path());
    } catch (canal::Error const&) {
        return 0; // "users file ... is invalid: ...": canal-chat prints it and exits 2
    }
    // Accepted: every user has a valid name and a hash check_password() can read. Check the
    // ones cheap to hash (a file may ask for up to 100 million iterations).
    auto const doc = boost::json::parse(text);
    for (auto const& item : doc.at("users").as_array()) {
        auto const& user = item.as_object();
        auto const name = std::string(user.at("username").as_string());
        auto const hash = std::string(user.at("password").as_string());
        if (!canal::JsonFileUserStore::is_valid_username(name) || !store->get(name)) {
            canal::fuzz::broken("an accepted user is not in the store or has a bad name");
        }
        auto const iterations = canal::password_iterations(hash);
        if (iterations == 0) {
            canal::fuzz::broken("an accepted user has a hash password_iterations() rejects");
        }
        if (iterations <= 16) {
            (void)canal::check_password("password", hash);
            (void)store->authenticate(name, "password");
        }
    }
    return 0;
}
