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
    (void)url.address();
    // The redacted form does not depend on the password (the password's text may appear in
    // it by chance, as part of the host and port).
    auto other = url;
    other.password = url.password.empty() ? "" : url.password + "-other";
    if (other.redacted() != url.redacted()) {
        canal::fuzz::broken("Url::redacted() shows something of the password");
    }
    return 0;
}
