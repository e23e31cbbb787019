// Fuzz target: Redis URLs (`--layer`, `--sessions`, RedisLayerSettings::hosts). A bad URL is
// std::invalid_argument naming it; a good one has a host, a port and a database, and its
// redacted form hides the password.
#include <canal/redis/url.hpp>

#include "fuzz_input.hpp"

#include <stdexcept>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    canal::redis::Url url;
    try {
        url = canal::redis::Url::parse(canal::fuzz::text(data, size));
    } catch (std::invalid_argument const&) {
        return 0;
    }
    if (url.host.empty() || url.port == 0 || url.db < 0) {
        canal::fuzz::broken("Url::parse() accepted a URL without host, port or database");
    }
    auto const address = url.address();
    auto const redacted = url.redacted();
    if (url.password.size() >= 8 && redacted.find(url.password) != std::string::npos &&
        url.host.find(url.password) == std::string::npos &&
        url.username.find(url.password) == std::string::npos) {
        canal::fuzz::broken("Url::redacted() shows the password");
    }
    return 0;
}
