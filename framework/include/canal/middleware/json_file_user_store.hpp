// JsonFileUserStore: users and their password hashes in a JSON file.
#pragma once

#include <canal/middleware/user.hpp>

#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace canal {

/**
 * Users in a JSON file:
 * `{"users": [{"username": "alice", "password": "pbkdf2_sha256$...", "is_staff": false}]}`.
 * Only password hashes are stored (make_password()); the file is written with mode 0600,
 * through a temporary file and a rename so that readers never see half a file.
 *
 * @par Thread safety
 * Safe from any thread.
 */
class JsonFileUserStore : public UserStore {
public:
    /**
     * Loads `file` (a missing file is an empty store). Throws canal::Error naming the file
     * when it cannot be read or is not in the format above.
     */
    explicit JsonFileUserStore(std::filesystem::path file);

    [[nodiscard]] std::optional<User> get(std::string_view username) const override;
    [[nodiscard]] std::optional<User> authenticate(std::string_view username,
                                                   std::string_view password) const override;

    /**
     * Adds a user and writes the file. Throws std::invalid_argument for an invalid username
     * (1 to 150 letters, digits and `@.+-_`), an empty password, or a name already taken;
     * canal::Error when the file cannot be written.
     */
    void create_user(std::string const& username, std::string_view password, bool is_staff,
                     unsigned iterations = 0);

    /** True for a username create_user() accepts (Django's rule). */
    static bool is_valid_username(std::string_view username) noexcept;

    /** Number of users. */
    [[nodiscard]] std::size_t size() const;

private:
    struct Record {
        std::string password;
        bool is_staff = false;
    };
    void write_file() const;

    std::filesystem::path file_;
    mutable std::mutex mutex_;
    std::map<std::string, Record, std::less<>> users_;
};

} // namespace canal
