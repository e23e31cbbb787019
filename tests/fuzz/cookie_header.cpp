// Fuzz target: the Cookie header (CookieMiddleware's parser, Django's rules), which a client
// controls. parse_cookies() never throws; a cookie that make_set_cookie() accepts comes back
// unchanged when a browser sends it as `name=value`.
#include <canal/middleware/cookie_middleware.hpp>

#include "fuzz_input.hpp"

#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto const header = canal::fuzz::text(data, size);
    auto const cookies = canal::parse_cookies(header);
    for (auto const& [name, value] : cookies) {
        std::string set_cookie;
        try {
            set_cookie = canal::make_set_cookie(name, value);
        } catch (std::invalid_argument const&) {
            continue; // not a name or value a server may set
        }
        if (set_cookie.rfind(name + "=", 0) != 0) {
            canal::fuzz::broken("Set-Cookie does not start with the cookie's name");
        }
        auto const back = canal::parse_cookies(name + "=" + value);
        auto const found = back.find(name);
        if (found == back.end() || found->second != value) {
            canal::fuzz::broken("a cookie that make_set_cookie() accepts does not parse back");
        }
    }
    return 0;
}
