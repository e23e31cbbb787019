// Fuzz target: the Origin header and allowed-host patterns (OriginValidator's urlparse-like
// parsing, Django's is_same_domain). Input: the Origin value, then a pattern on the next line.
#include <canal/middleware/origin_validator.hpp>

#include "fuzz_input.hpp"

#include <optional>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto const lines = canal::fuzz::split(canal::fuzz::text(data, size));
    auto const origin = lines[0];
    std::string const pattern(lines.size() > 1 ? lines[1] : std::string_view("localhost"));
    auto const parsed = canal::parse_origin(origin);
    if (parsed) {
        if (parsed->hostname.empty()) {
            canal::fuzz::broken("parse_origin() accepted an origin without a host");
        }
        (void)canal::match_allowed_origin(*parsed, pattern);
        (void)canal::is_same_domain(parsed->hostname, pattern);
        // An origin always matches its own host name as a pattern.
        auto const own = parsed->hostname.find(':') != std::string::npos
                             ? "[" + parsed->hostname + "]"
                             : parsed->hostname;
        if (!own.empty() && own[0] != '.' && !canal::match_allowed_origin(*parsed, own)) {
            canal::fuzz::broken("an origin does not match its own host name");
        }
    }
    std::vector<std::string> const allowed{pattern};
    bool const valid = canal::valid_origin(origin, allowed);
    if (valid && !parsed && pattern != "*") {
        canal::fuzz::broken("valid_origin() accepted an origin that does not parse");
    }
    std::vector<std::string> const any{"*"};
    if (!canal::valid_origin(origin, any) || !canal::valid_origin(std::nullopt, any)) {
        canal::fuzz::broken("'*' must allow every origin");
    }
    return 0;
}
