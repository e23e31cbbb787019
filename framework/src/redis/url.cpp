// Url: redis:// URLs parsed with Boost.URL.
#include <canal/redis/url.hpp>

#include <boost/url/params_view.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <charconv>
#include <stdexcept>

namespace canal::redis {

namespace {

[[noreturn]] void bad(std::string_view url, std::string_view why) {
    throw std::invalid_argument("Redis URL '" + std::string(url) + "' is invalid: " +
                                std::string(why) +
                                " (expected redis://[:password@]host[:port][/db], or rediss:// "
                                "for TLS)");
}

} // namespace

Url Url::parse(std::string_view text) {
    auto parsed = boost::urls::parse_absolute_uri(text);
    if (!parsed) {
        bad(text, parsed.error().message());
    }
    boost::urls::url_view const u = *parsed;
    if (u.scheme() != "redis" && u.scheme() != "rediss") {
        bad(text, "the scheme must be redis, or rediss for TLS");
    }
    Url out;
    out.tls = u.scheme() == "rediss";
    if (!u.has_authority() || u.host().empty()) {
        bad(text, "no host");
    }
    out.host = u.host_address();
    if (u.has_port()) {
        auto const port = u.port();
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
            bad(text, "the port must be a number from 1 to 65535");
        }
        out.port = static_cast<unsigned short>(value);
    }
    if (u.has_userinfo()) {
        out.username = u.user();
        if (u.has_password()) {
            out.password = u.password();
        } else {
            // redis://secret@host: the userinfo is the password (no ACL user).
            out.password = out.username;
            out.username.clear();
        }
    }
    auto path = std::string(u.path());
    if (!path.empty() && path != "/") {
        auto const digits = std::string_view(path).substr(1);
        int db = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), db);
        if (ec != std::errc() || end != digits.data() + digits.size() || db < 0) {
            bad(text, "the path must be a database number such as /0");
        }
        out.db = db;
    }
    for (auto const& param : u.params()) {
        if (!out.tls) {
            bad(text, "query options are for rediss:// URLs only");
        }
        if (param.key == "ssl_cert_reqs" && (param.value == "none" || param.value == "required")) {
            out.verify_peer = param.value == "required";
        } else if (param.key == "ssl_ca_certs" && param.has_value && !param.value.empty()) {
            out.ca_file = param.value;
        } else {
            bad(text, "unknown query option '" + std::string(param.key) + "=" +
                          std::string(param.value) +
                          "' (rediss:// takes ssl_cert_reqs=none|required and ssl_ca_certs=FILE)");
        }
    }
    return out;
}

std::string Url::address() const {
    if (host.find(':') != std::string::npos) {
        return "[" + host + "]:" + std::to_string(port);
    }
    return host + ":" + std::to_string(port);
}

std::string Url::redacted() const {
    std::string out = tls ? "rediss://" : "redis://";
    if (!password.empty()) {
        out += username + ":***@";
    }
    out += address();
    if (db != 0) {
        out += "/" + std::to_string(db);
    }
    return out;
}

} // namespace canal::redis
