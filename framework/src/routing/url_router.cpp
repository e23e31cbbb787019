// URLRouter, path() and re_path(): patterns compiled once into std::regex, matched per request.
#include <canal/routing/url_router.hpp>

#include <canal/core/errors.hpp>

#include "core/run_routed.hpp"

#include <cstddef>
#include <exception>
#include <regex>
#include <stdexcept>
#include <utility>

namespace canal {

/** A compiled path() or re_path() pattern. */
struct Route::Pattern {
    /** The pattern as the user wrote it (for messages and pattern_text()). */
    std::string text;
    /** The ECMAScript regex it compiles to; matched from the start of the remaining path. */
    std::regex regex;
    /** Name of capturing group i + 1, empty for an unnamed group. */
    std::vector<std::string> group_names;
    /** Named groups go to kwargs and unnamed ones are then ignored (Django). */
    bool has_named_groups = false;
    /**
     * A leaf route must match all of the remaining path: always for path(), and for re_path()
     * when the regex ends with `$` (Django's fullmatch); otherwise a prefix is enough.
     */
    bool leaf_matches_whole = false;
};

namespace {

using svmatch = std::match_results<std::string_view::const_iterator>;

[[noreturn]] void bad_pattern(char const* kind, std::string_view pattern, std::string const& why) {
    throw std::invalid_argument(std::string(kind) + " pattern '" + std::string(pattern) +
                                "' is invalid: " + why);
}

bool is_identifier(std::string_view name) {
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

// Django's converters; the captured text is kept as a string (no int conversion).
std::string_view converter_regex(std::string_view converter) {
    if (converter == "str") {
        return "[^/]+";
    }
    if (converter == "int") {
        return "[0-9]+";
    }
    if (converter == "slug") {
        return "[-a-zA-Z0-9_]+";
    }
    if (converter == "path") {
        return ".+";
    }
    return {};
}

void append_escaped(std::string& out, char c) {
    static constexpr std::string_view special = R"(\^$.*+?()[]{}|)";
    if (special.find(c) != std::string_view::npos) {
        out += '\\';
    }
    out += c;
}

std::regex compile(char const* kind, std::string_view pattern, std::string const& ecmascript) {
    try {
        return std::regex(ecmascript, std::regex::ECMAScript | std::regex::optimize);
    } catch (std::regex_error const& e) {
        bad_pattern(kind, pattern, std::string("not a valid ECMAScript regex (") + e.what() + ")");
    }
}

std::shared_ptr<Route::Pattern const> compile_path(std::string_view pattern) {
    static constexpr char const* kind = "path()";
    if (pattern.starts_with('/')) {
        bad_pattern(kind, pattern,
                    "it starts with '/', but routes match the path without its leading '/': "
                    "remove the '/'");
    }
    auto compiled = std::make_shared<Route::Pattern>();
    compiled->text = pattern;
    compiled->leaf_matches_whole = true;
    std::string ecmascript;
    std::size_t i = 0;
    while (i < pattern.size()) {
        if (pattern[i] != '<') {
            append_escaped(ecmascript, pattern[i]);
            ++i;
            continue;
        }
        std::size_t const close = pattern.find('>', i + 1);
        if (close == std::string_view::npos) {
            bad_pattern(kind, pattern,
                        "'<' at position " + std::to_string(i) + " has no closing '>'");
        }
        std::string_view const inside = pattern.substr(i + 1, close - i - 1);
        std::string_view converter = "str";
        std::string_view name = inside;
        if (std::size_t const colon = inside.find(':'); colon != std::string_view::npos) {
            converter = inside.substr(0, colon);
            name = inside.substr(colon + 1);
        }
        if (!is_identifier(name)) {
            bad_pattern(kind, pattern,
                        "parameter name '" + std::string(name) + "' in '<" + std::string(inside) +
                            ">' must be letters, digits and '_', not starting with a digit");
        }
        std::string_view const regex = converter_regex(converter);
        if (regex.empty()) {
            bad_pattern(kind, pattern,
                        "unknown converter '" + std::string(converter) + "' in '<" +
                            std::string(inside) + ">': use str, int, slug or path");
        }
        for (auto const& seen : compiled->group_names) {
            if (seen == name) {
                bad_pattern(kind, pattern,
                            "parameter '" + std::string(name) + "' appears more than once");
            }
        }
        ecmascript += '(';
        ecmascript += regex;
        ecmascript += ')';
        compiled->group_names.emplace_back(name);
        i = close + 1;
    }
    compiled->has_named_groups = !compiled->group_names.empty();
    compiled->regex = compile(kind, pattern, ecmascript);
    return compiled;
}

/**
 * Rewrites Python/ECMAScript named groups into plain groups, since std::regex has none:
 * `(?P<n>` and `(?<n>` become `(`, the backreferences `(?P=n)` and `\k<n>` become
 * `(?:\i)`, `\A` and `\Z` become `^` and `$`. Everything else is left for std::regex to judge.
 */
class RegexTranslator {
public:
    explicit RegexTranslator(std::string_view pattern) : pattern_(pattern) {}

    std::shared_ptr<Route::Pattern const> translate() {
        auto compiled = std::make_shared<Route::Pattern>();
        compiled->text = pattern_;
        bool in_class = false;
        bool ends_with_dollar = false;
        Repeat repeat = Repeat::none;
        while (pos_ < pattern_.size()) {
            ends_with_dollar = false;
            char const c = pattern_[pos_];
            Repeat const before = std::exchange(repeat, Repeat::none);
            if (c == '\\') {
                escape(in_class);
                continue;
            }
            if (in_class) {
                // ECMAScript: the first ']' closes the class, even right after '['.
                in_class = c != ']';
            } else if (c == '[') {
                in_class = true;
            } else if (c == '(') {
                open_group();
                continue;
            } else if (c == '*' || c == '+' || c == '?' || quantifier_end() != npos) {
                repeat = quantifier(c, before);
                if (c == '{') {
                    auto const end = quantifier_end();
                    out_ += pattern_.substr(pos_, end + 1 - pos_);
                    pos_ = end + 1;
                    continue;
                }
            } else if (c == '{' || c == '}') {
                // Not part of a quantifier: a literal brace, as in Python's re (std::regex
                // would refuse it, or overflow on the digits after it: found by fuzzing).
                out_ += '\\';
            } else if (c == '$') {
                ends_with_dollar = true;
            }
            out_ += c;
            ++pos_;
        }
        if (in_class) {
            fail("a '[' is never closed by ']'");
        }
        compiled->regex = compile("re_path()", pattern_, out_);
        if (compiled->regex.mark_count() != names_.size()) {
            fail("its groups could not be counted (" + std::to_string(names_.size()) +
                 " found, std::regex sees " + std::to_string(compiled->regex.mark_count()) + ")");
        }
        for (auto const& name : names_) {
            compiled->has_named_groups = compiled->has_named_groups || !name.empty();
        }
        compiled->group_names = std::move(names_);
        compiled->leaf_matches_whole = ends_with_dollar;
        return compiled;
    }

private:
    [[noreturn]] void fail(std::string const& why) const {
        bad_pattern("re_path()", pattern_, why);
    }

    bool at(std::string_view text) const { return pattern_.substr(pos_).starts_with(text); }

    // Reads a group name up to `terminator`, starting at pos_; leaves pos_ after it.
    std::string read_name(char terminator) {
        std::size_t const end = pattern_.find(terminator, pos_);
        if (end == std::string_view::npos) {
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

    static constexpr std::size_t npos = std::string_view::npos;

    // A numbered backreference `\N` at pos_: it must name a group opened before it, as in
    // Python's re (libstdc++ overflowed a long on `\2222...`: found by fuzzing).
    void backreference() {
        std::size_t i = pos_ + 1;
        std::size_t number = 0;
        while (i < pattern_.size() && pattern_[i] >= '0' && pattern_[i] <= '9') {
            number = number * 10 + static_cast<std::size_t>(pattern_[i] - '0');
            ++i;
            if (number > names_.size()) {
                fail("the backreference at position " + std::to_string(pos_) +
                     " names no group opened before it");
            }
        }
        out_ += pattern_.substr(pos_, i - pos_);
        pos_ = i;
    }

    // What the previous token was: a quantifier (`*`, `+`, `?`, `{n,m}`), a quantifier made
    // lazy by a `?`, or anything else.
    enum class Repeat { none, quantifier, lazy };

    // Where the `}` of a quantifier `{n}`, `{n,}` or `{n,m}` at pos_ is, or npos when there
    // is none there.
    [[nodiscard]] std::size_t quantifier_end() const {
        if (pattern_[pos_] != '{') {
            return npos;
        }
        std::size_t i = pos_ + 1;
        while (i < pattern_.size() && pattern_[i] >= '0' && pattern_[i] <= '9') {
            ++i;
        }
        if (i == pos_ + 1) {
            return npos;
        }
        if (i < pattern_.size() && pattern_[i] == ',') {
            ++i;
            while (i < pattern_.size() && pattern_[i] >= '0' && pattern_[i] <= '9') {
                ++i;
            }
        }
        return i < pattern_.size() && pattern_[i] == '}' ? i : npos;
    }

    // Checks the quantifier `c` at pos_ after `before`, as Python's re does ("multiple
    // repeat": std::regex would take `a**` and backtrack without end); refuses counts over
    // max_repetition, since std::regex builds one state per repetition (and libstdc++
    // overflows a long on huge counts: found by fuzzing). Returns what it makes of the token.
    [[nodiscard]] Repeat quantifier(char c, Repeat before) const {
        if (c == '?' && before == Repeat::quantifier) {
            return Repeat::lazy;
        }
        if (before != Repeat::none) {
            fail("a quantifier follows a quantifier at position " + std::to_string(pos_) +
                 " (multiple repeat)");
        }
        if (c == '{') {
            constexpr std::size_t max_repetition = 1000;
            std::size_t value = 0;
            for (std::size_t i = pos_ + 1; pattern_[i] != '}'; ++i) {
                if (pattern_[i] == ',') {
                    value = 0;
                    continue;
                }
                value = value * 10 + static_cast<std::size_t>(pattern_[i] - '0');
                if (value > max_repetition) {
                    fail("the repetition count at position " + std::to_string(pos_) +
                         " is over " + std::to_string(max_repetition));
                }
            }
        }
        return Repeat::quantifier;
    }

    std::size_t group_number(std::string const& name) const {
        for (std::size_t i = 0; i < names_.size(); ++i) {
            if (names_[i] == name) {
                return i + 1;
            }
        }
        fail("backreference to group '" + name + "', which is not defined before it");
    }

    void escape(bool in_class) {
        if (pos_ + 1 >= pattern_.size()) {
            fail("it ends with a lone '\\'");
        }
        char const next = pattern_[pos_ + 1];
        if (!in_class && next == 'k' && pos_ + 2 < pattern_.size() && pattern_[pos_ + 2] == '<') {
            pos_ += 3;
            out_ += "(?:\\" + std::to_string(group_number(read_name('>'))) + ")";
            return;
        }
        if (!in_class && next >= '1' && next <= '9') {
            backreference();
            return;
        }
        if (!in_class && next == 'A') {
            out_ += '^';
        } else if (!in_class && next == 'Z') {
            out_ += '$';
        } else {
            out_ += '\\';
            out_ += next;
        }
        pos_ += 2;
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
            names_.push_back(std::move(name));
            out_ += '(';
            return;
        }
        if (at("(?P=")) {
            pos_ += 4;
            out_ += "(?:\\" + std::to_string(group_number(read_name(')'))) + ")";
            return;
        }
        if (at("(?P")) {
            fail("'(?P' at position " + std::to_string(pos_) +
                 " must be followed by '<name>' or '=name)'");
        }
        if (!at("(?")) {
            names_.emplace_back(); // an unnamed capturing group
        }
        // Non-capturing groups and lookaheads pass through; std::regex rejects what it lacks
        // (lookbehind, inline flags).
        out_ += '(';
        ++pos_;
    }

    std::string_view pattern_;
    std::size_t pos_ = 0;
    std::string out_;
    std::vector<std::string> names_;
};

UrlRoute captures_of(Route::Pattern const& pattern, svmatch const& m) {
    UrlRoute captured;
    for (std::size_t group = 1; group < m.size(); ++group) {
        std::string const& name = pattern.group_names[group - 1];
        if (pattern.has_named_groups) {
            // Django drops named groups that did not take part in the match.
            if (!name.empty() && m[group].matched) {
                captured.kwargs.insert_or_assign(name, m[group].str());
            }
        } else {
            captured.args.push_back(m[group].matched ? m[group].str() : std::string());
        }
    }
    return captured;
}

// Inner captures win over outer ones with the same name; args are appended (Channels).
void merge_into(UrlRoute& into, UrlRoute&& from) {
    for (auto& [name, value] : from.kwargs) {
        into.kwargs.insert_or_assign(name, std::move(value));
    }
    for (auto& arg : from.args) {
        into.args.push_back(std::move(arg));
    }
}

std::string_view strip_leading_slashes(std::string_view path) {
    // Channels strips every leading '/' (path.lstrip("/")), at each level of nesting.
    while (path.starts_with('/')) {
        path.remove_prefix(1);
    }
    return path;
}

} // namespace

Route::Route(std::shared_ptr<Pattern const> pattern, Application app)
    : pattern_(std::move(pattern)), app_(std::move(app)) {
    if (!pattern_) {
        throw std::invalid_argument("Route: the pattern is null: build routes with path() or "
                                    "re_path()");
    }
    if (!app_) {
        throw std::invalid_argument("route '" + pattern_->text +
                                    "': the application is empty: give it a callable application");
    }
}

Route::Route(std::shared_ptr<Pattern const> pattern, std::shared_ptr<URLRouter const> inner)
    : pattern_(std::move(pattern)), inner_(std::move(inner)) {
    if (!pattern_) {
        throw std::invalid_argument("Route: the pattern is null: build routes with path() or "
                                    "re_path()");
    }
    if (!inner_) {
        throw std::invalid_argument("route '" + pattern_->text + "': the inner URLRouter is null");
    }
}

std::string const& Route::pattern_text() const noexcept { return pattern_->text; }

Route path(std::string_view pattern, Application app) {
    return Route(compile_path(pattern), std::move(app));
}

Route path(std::string_view pattern, URLRouter inner) {
    return Route(compile_path(pattern), std::make_shared<URLRouter const>(std::move(inner)));
}

Route re_path(std::string_view regex, Application app) {
    return Route(RegexTranslator(regex).translate(), std::move(app));
}

Route re_path(std::string_view regex, URLRouter inner) {
    return Route(RegexTranslator(regex).translate(),
                 std::make_shared<URLRouter const>(std::move(inner)));
}

URLRouter::URLRouter(std::vector<Route> routes) : routes_(std::move(routes)) {}

std::optional<RouteMatch> URLRouter::match(std::string_view path) const {
    RouteMatch found;
    if (!match_into(path, found)) {
        return std::nullopt;
    }
    return found;
}

// The first route whose whole chain matches wins. Like Django's include() (and unlike
// Channels, which raises), a prefix match whose inner router finds nothing falls through to
// the next route.
bool URLRouter::match_into(std::string_view rest, RouteMatch& out) const {
    rest = strip_leading_slashes(rest);
    for (auto const& route : routes_) {
        Route::Pattern const& pattern = *route.pattern_;
        bool const leaf = route.inner_ == nullptr;
        svmatch m;
        bool const matched = leaf && pattern.leaf_matches_whole
                                 ? std::regex_match(rest.begin(), rest.end(), m, pattern.regex)
                                 : std::regex_search(rest.begin(), rest.end(), m, pattern.regex,
                                                     std::regex_constants::match_continuous);
        if (!matched) {
            continue;
        }
        if (leaf) {
            merge_into(out.url_route, captures_of(pattern, m));
            out.app = &route.app_;
            return true;
        }
        RouteMatch inner{nullptr, out.url_route};
        merge_into(inner.url_route, captures_of(pattern, m));
        if (route.inner_->match_into(rest.substr(static_cast<std::size_t>(m.length(0))), inner)) {
            out = std::move(inner);
            return true;
        }
    }
    return false;
}

// Not a coroutine: matching happens now and the returned awaitable owns a copy of the chosen
// application, so it does not refer to this router (or a temporary one) once it runs.
awaitable<void> URLRouter::operator()(Scope scope, Receive receive, Send send) const {
    try {
        std::string_view path = scope.path;
        if (!scope.root_path.empty()) {
            // Like Channels' outermost router: the path must be under the mount point.
            if (!path.starts_with(scope.root_path)) {
                throw RouteNotFound("No route found for path '" + scope.path +
                                    "': it is not under root_path '" + scope.root_path + "'");
            }
            path.remove_prefix(scope.root_path.size());
        }
        std::optional<RouteMatch> found = match(path);
        if (!found) {
            throw RouteNotFound("No route found for path '" + scope.path + "'");
        }
        Application app = *found->app;
        merge_into(scope.url_route, std::move(found->url_route));
        return detail::run_routed(std::move(app), std::move(scope), std::move(receive),
                                  std::move(send));
    } catch (...) {
        return detail::fail_routing(std::current_exception());
    }
}

} // namespace canal
