// Python's `re` syntax on Boost.Regex: the few spellings Boost reads differently, and the
// groups' names (kwargs) and order (args).
#include "routing/python_regex.hpp"

#include <cstddef>
#include <stdexcept>
#include <utility>

namespace canal::detail {

void bad_pattern(char const* kind, std::string_view pattern, std::string const& why) {
    throw std::invalid_argument(std::string(kind) + " pattern '" + std::string(pattern) +
                                "' is invalid: " + why);
}

bool is_identifier(std::string_view name) noexcept {
    if (name.empty() || (name.front() >= '0' && name.front() <= '9')) {
        return false;
    }
    for (char const c : name) {
        bool const ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

namespace {

constexpr std::size_t npos = std::string_view::npos;

// Paths are short: larger counts mean nothing in a route, and this keeps compiled patterns
// small whatever a pattern says.
constexpr std::size_t max_repetition = 1000;

class Reader {
public:
    Reader(std::string_view pattern, char const* kind) : pattern_(pattern), kind_(kind) {}

    PythonRegex read() {
        PythonRegex compiled;
        bool in_class = false;
        while (pos_ < pattern_.size()) {
            compiled.ends_with_dollar = false;
            char const c = pattern_[pos_];
            if (c == '\\') {
                escape(in_class);
            } else if (in_class) {
                // As in Python, a ']' right after '[' or '[^' is a literal.
                in_class = c != ']' || pos_ == class_start_;
                take(1);
            } else if (c == '[') {
                in_class = true;
                class_start_ = pos_ + 1 < pattern_.size() && pattern_[pos_ + 1] == '^' ? pos_ + 2
                                                                                        : pos_ + 1;
                take(1);
            } else if (c == '(') {
                open_group();
            } else if (c == '{' || c == '}') {
                brace();
            } else {
                compiled.ends_with_dollar = c == '$';
                take(1);
            }
        }
        if (in_class) {
            fail("a '[' is never closed by ']'");
        }
        compiled.regex = compile();
        if (compiled.regex.mark_count() != names_.size()) {
            fail("its groups could not be counted (" + std::to_string(names_.size()) +
                 " found): write groups as (...), (?:...), (?P<name>...) or (?<name>...)");
        }
        compiled.group_names = std::move(names_);
        return compiled;
    }

private:
    [[noreturn]] void fail(std::string const& why) const { bad_pattern(kind_, pattern_, why); }

    bool at(std::string_view text) const { return pattern_.substr(pos_).starts_with(text); }

    void take(std::size_t n) {
        out_ += pattern_.substr(pos_, n);
        pos_ += n;
    }

    boost::regex compile() const {
        // Python's defaults: `^`/`$` at the ends of the text only, `.` stops at a newline.
        auto const flags = boost::regex::perl | boost::regex::no_mod_m | boost::regex::no_mod_s;
        try {
            return boost::regex(out_, flags);
        } catch (boost::regex_error const& e) {
            switch (e.code()) {
            case boost::regex_constants::error_badrepeat:
                fail("a quantifier has nothing to repeat or follows another quantifier "
                     "(multiple repeat)");
            case boost::regex_constants::error_backref:
                fail("a backreference names no group opened before it");
            default:
                fail(e.what());
            }
        }
    }

    // Reads a group name up to `terminator`, starting at pos_; leaves pos_ after it.
    std::string read_name(char terminator) {
        std::size_t const end = pattern_.find(terminator, pos_);
        if (end == npos) {
            fail("a group name at position " + std::to_string(pos_) + " has no closing '" +
                 terminator + "'");
        }
        std::string name(pattern_.substr(pos_, end - pos_));
        if (!is_identifier(name)) {
            fail("group name '" + name +
                 "' must be letters, digits and '_', not starting with a digit");
        }
        pos_ = end + 1;
        return name;
    }

    void escape(bool in_class) {
        if (pos_ + 1 >= pattern_.size()) {
            fail("it ends with a lone '\\'");
        }
        if (!in_class && pattern_[pos_ + 1] == 'Z') {
            out_ += "\\z"; // Python's \Z is the end of the text; Perl's \Z allows a last '\n'
            pos_ += 2;
            return;
        }
        take(2); // a numbered backreference's digits follow as literals; Boost checks them
    }

    void open_group() {
        if (at("(?P<") || (at("(?<") && !at("(?<=") && !at("(?<!"))) {
            pos_ += at("(?P<") ? 4 : 3;
            std::string name = read_name('>');
            for (auto const& seen : names_) {
                if (seen == name) {
                    fail("group name '" + name + "' is used twice");
                }
            }
            out_ += "(?<" + name + ">";
            names_.push_back(std::move(name));
            return;
        }
        if (at("(?P=")) {
            pos_ += 4;
            std::string const name = read_name(')');
            bool defined = false;
            for (auto const& seen : names_) {
                defined = defined || seen == name;
            }
            if (!defined) {
                fail("backreference to group '" + name + "', which is not defined before it");
            }
            out_ += "(?:\\k<" + name + ">)";
            return;
        }
        if (at("(?P")) {
            fail("'(?P' at position " + std::to_string(pos_) +
                 " must be followed by '<name>' or '=name)'");
        }
        if (!at("(?")) {
            names_.emplace_back(); // an unnamed capturing group
        }
        take(1);
    }

    // Where the `}` of a quantifier `{n}`, `{n,}`, `{,m}` or `{n,m}` at pos_ is, or npos.
    [[nodiscard]] std::size_t quantifier_end() const {
        std::size_t i = pos_ + 1;
        auto digits = [&] {
            std::size_t const from = i;
            while (i < pattern_.size() && pattern_[i] >= '0' && pattern_[i] <= '9') {
                ++i;
            }
            return i - from;
        };
        std::size_t const low = digits();
        std::size_t high = 0;
        bool const comma = i < pattern_.size() && pattern_[i] == ',';
        if (comma) {
            ++i;
            high = digits();
        }
        if (low == 0 && high == 0) {
            return npos; // `{}`, `{,}`, `{x`: literal braces in Python
        }
        return i < pattern_.size() && pattern_[i] == '}' ? i : npos;
    }

    void brace() {
        std::size_t const end = pattern_[pos_] == '{' ? quantifier_end() : npos;
        if (end == npos) {
            out_ += '\\'; // a literal brace, as in Python's re
            take(1);
            return;
        }
        std::string_view const counts = pattern_.substr(pos_ + 1, end - pos_ - 1);
        std::size_t value = 0;
        for (char const c : counts) {
            value = c == ',' ? 0 : value * 10 + static_cast<std::size_t>(c - '0');
            if (value > max_repetition) {
                fail("the repetition count at position " + std::to_string(pos_) + " is over " +
                     std::to_string(max_repetition));
            }
        }
        out_ += counts.starts_with(',') ? "{0" : "{";
        out_ += counts;
        out_ += '}';
        pos_ = end + 1;
    }

    std::string_view pattern_;
    char const* kind_;
    std::size_t pos_ = 0;
    std::size_t class_start_ = 0;
    std::string out_;
    std::vector<std::string> names_;
};

} // namespace

PythonRegex compile_python_regex(std::string_view pattern, char const* kind) {
    return Reader(pattern, kind).read();
}

} // namespace canal::detail
