// Fuzz target: CSRF token checking (the csrftoken cookie's secret and the form's masked
// token, both client-controlled). Input: the secret, then the token on the next line.
// csrf_check() never throws; a token masked from a valid secret always checks.
#include <canal/middleware/csrf.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto const lines = canal::fuzz::split(canal::fuzz::text(data, size));
    auto const secret = lines[0];
    auto const token = lines.size() > 1 ? lines[1] : std::string_view();
    bool const valid_secret = canal::csrf_is_valid_secret(secret);
    bool const ok = canal::csrf_check(secret, token);
    if (ok && !valid_secret) {
        canal::fuzz::broken("csrf_check() accepted a token for a malformed secret");
    }
    if (valid_secret) {
        auto const masked = canal::csrf_mask(secret);
        if (!canal::csrf_check(secret, masked)) {
            canal::fuzz::broken("a freshly masked token does not check against its secret");
        }
    }
    return 0;
}
