// Internal: Python's `re` syntax, as users paste it from their Channels routing, compiled
// with Boost.Regex (Perl syntax), which reads almost all of it as it is.
#pragma once

#include <boost/regex.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace canal::detail {

/** A pattern in Python's `re` syntax, compiled. */
struct PythonRegex {
    /** The compiled regex; `^` and `$` match at the ends only, `.` does not match `\n`. */
    boost::regex regex;
    /** Name of capturing group i + 1, empty for an unnamed group. */
    std::vector<std::string> group_names;
    /** True when the pattern ends with an unescaped `$` (Django's fullmatch for leaves). */
    bool ends_with_dollar = false;
};

/**
 * Compiles `pattern`. Boost.Regex reads Python's syntax but for a few spellings, rewritten
 * here: `(?P<name>...)` (to `(?<name>...)`), `(?P=name)` (to `\k<name>`), `\Z` (Python's end
 * of text, Perl's `\z`) and `{,n}` (to `{0,n}`); a brace that starts no quantifier is a
 * literal, as in Python. `(?<name>...)` and `\k<name>` are also accepted.
 *
 * Throws std::invalid_argument, `"<kind> pattern '<pattern>' is invalid: <why>"`, on a
 * malformed pattern, a group name used twice, a repetition count over 1000 or a group
 * syntax whose groups cannot be counted.
 */
PythonRegex compile_python_regex(std::string_view pattern, char const* kind);

/** Throws std::invalid_argument: `"<kind> pattern '<pattern>' is invalid: <why>"`. */
[[noreturn]] void bad_pattern(char const* kind, std::string_view pattern, std::string const& why);

/** True for a Python identifier in ASCII: letters, digits and `_`, not starting with a digit. */
bool is_identifier(std::string_view name) noexcept;

} // namespace canal::detail
