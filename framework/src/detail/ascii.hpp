// ASCII text helpers shared by the server and the middleware (locale-independent, as HTTP
// header names, schemes and hosts are).
#pragma once

#include <algorithm>
#include <string>
#include <vector>
#include <string_view>

namespace canal::detail {

/** `c` in ASCII lower case (no locale: every request's header names go through it). */
constexpr char ascii_lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/** `s` in ASCII lower case (other bytes unchanged). */
inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        c = ascii_lower(c);
    }
    return out;
}

/** True when `a` and `b` are equal ignoring ASCII case. */
inline bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

/** `s` without the leading and trailing characters in `chars`. */
inline std::string_view trim(std::string_view s, std::string_view chars) noexcept {
    auto const b = s.find_first_not_of(chars);
    if (b == std::string_view::npos) {
        return {};
    }
    return s.substr(b, s.find_last_not_of(chars) - b + 1);
}

/** `'a', 'b', 'c'` for an error message; `none` for no names. */
inline std::string quoted_list(std::vector<std::string> const& names) {
    std::string list;
    for (auto const& name : names) {
        list += (list.empty() ? "'" : ", '") + name + "'";
    }
    return list.empty() ? std::string("none") : list;
}

} // namespace canal::detail
