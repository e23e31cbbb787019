// DjangoSettings: engine names and the secret key file.
#include <canal/django/django_settings.hpp>

#include <canal/core/errors.hpp>

#include <fstream>
#include <iterator>
#include <stdexcept>

namespace canal::django {

SessionEngine parse_session_engine(std::string_view name) {
    constexpr std::string_view prefix = "django.contrib.sessions.backends.";
    if (name.substr(0, prefix.size()) == prefix) {
        name.remove_prefix(prefix.size());
    }
    if (name == "db") {
        return SessionEngine::db;
    }
    if (name == "signed_cookies") {
        return SessionEngine::signed_cookies;
    }
    if (name == "cache") {
        return SessionEngine::cache;
    }
    throw std::invalid_argument("the Django session engine must be db, signed_cookies or cache, "
                                "not '" + std::string(name) + "'");
}

std::string read_secret_key(std::filesystem::path const& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw Error("cannot read the Django secret key file " + file.string());
    }
    std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) {
        key.pop_back();
    }
    if (key.empty()) {
        throw Error("the Django secret key file " + file.string() + " is empty");
    }
    return key;
}

} // namespace canal::django
