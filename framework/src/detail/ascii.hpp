// ASCII text helpers shared by the server and the middleware (locale-independent, as HTTP
// header names, schemes and hosts are).
#pragma once

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/algorithm/string/predicate.hpp>

#include <locale>
#include <string>
#include <string_view>

namespace canal::detail {

/** `s` in ASCII lower case (other bytes unchanged). */
inline std::string ascii_lower(std::string_view s) {
    return boost::algorithm::to_lower_copy(std::string(s), std::locale::classic());
}

/** True when `a` and `b` are equal ignoring ASCII case. */
inline bool ascii_iequals(std::string_view a, std::string_view b) {
    return boost::algorithm::iequals(a, b, std::locale::classic());
}

/** `s` without the leading and trailing characters in `chars`. */
inline std::string_view trim(std::string_view s, std::string_view chars) noexcept {
    auto const b = s.find_first_not_of(chars);
    if (b == std::string_view::npos) {
        return {};
    }
    return s.substr(b, s.find_last_not_of(chars) - b + 1);
}

} // namespace canal::detail
