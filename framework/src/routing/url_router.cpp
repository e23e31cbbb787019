// URLRouter, path() and re_path(): patterns compiled once with Boost.Regex (Python's syntax,
// see python_regex.hpp), matched per request.
#include <canal/routing/url_router.hpp>

#include <canal/core/errors.hpp>

#include "core/run_routed.hpp"
#include "routing/converter_registry.hpp"
#include "routing/python_regex.hpp"

#include <cstddef>
#include <exception>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

namespace canal {

/** A compiled path() or re_path() pattern. */
struct Route::Pattern {
    /** The pattern as the user wrote it (for messages and pattern_text()). */
    std::string text;
    /** The regex and its groups; matched from the start of the remaining path. */
    detail::PythonRegex compiled;
    /** Named groups go to kwargs and unnamed ones are then ignored (Django). */
    bool has_named_groups = false;
    /**
     * A leaf route must match all of the remaining path: always for path(), and for re_path()
     * when the regex ends with `$` (Django's fullmatch); otherwise a prefix is enough.
     */
    bool leaf_matches_whole = false;
    /** path(): each parameter's converter, by name (its value goes to typed_kwargs). */
    std::map<std::string, std::shared_ptr<PathConverter const>, std::less<>> converters;
};

namespace {

using detail::bad_pattern;
using svmatch = boost::match_results<std::string_view::const_iterator>;

std::string escaped(char c) {
    static constexpr std::string_view special = R"(\^$.*+?()[]{}|)";
    return special.find(c) != std::string_view::npos ? std::string{'\\', c} : std::string{c};
}

std::string converter_names() {
    std::string names;
    for (auto const& name : registered_converters()) {
        names += (names.empty() ? "" : ", ") + name;
    }
    return names;
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
    std::string regex;
    std::size_t i = 0;
    while (i < pattern.size()) {
        if (pattern[i] != '<') {
            regex += escaped(pattern[i]);
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
        if (!detail::is_identifier(name)) {
            bad_pattern(kind, pattern,
                        "parameter name '" + std::string(name) + "' in '<" + std::string(inside) +
                            ">' must be letters, digits and '_', not starting with a digit");
        }
        auto found = detail::find_converter(converter);
        if (!found) {
            bad_pattern(kind, pattern,
                        "unknown converter '" + std::string(converter) + "' in '<" +
                            std::string(inside) + ">': use one of " + converter_names() +
                            ", or add one with canal::register_converter()");
        }
        if (compiled->converters.contains(name)) {
            bad_pattern(kind, pattern,
                        "parameter '" + std::string(name) + "' appears more than once");
        }
        regex += "(?P<" + std::string(name) + ">" + found->regex + ")";
        compiled->converters.emplace(name, std::move(found));
        i = close + 1;
    }
    compiled->compiled = detail::compile_python_regex(regex, kind);
    compiled->has_named_groups = !compiled->converters.empty();
    return compiled;
}

std::shared_ptr<Route::Pattern const> compile_re_path(std::string_view regex) {
    auto compiled = std::make_shared<Route::Pattern>();
    compiled->text = regex;
    compiled->compiled = detail::compile_python_regex(regex, "re_path()");
    for (auto const& name : compiled->compiled.group_names) {
        compiled->has_named_groups = compiled->has_named_groups || !name.empty();
    }
    compiled->leaf_matches_whole = compiled->compiled.ends_with_dollar;
    return compiled;
}

// The value a converter gives for `text`, or nothing when it refuses it (Django's
// ValueError: the route does not match).
std::optional<boost::json::value> convert(PathConverter const* converter, std::string const& text) {
    if (converter == nullptr || !converter->to_python) {
        return boost::json::value(text);
    }
    try {
        return converter->to_python(text);
    } catch (std::invalid_argument const&) {
        return std::nullopt;
    } catch (std::out_of_range const&) {
        return std::nullopt;
    }
}

// The captures of a match, or nothing when a converter refuses its text.
std::optional<UrlRoute> captures_of(Route::Pattern const& pattern, svmatch const& m) {
    UrlRoute captured;
    auto const& names = pattern.compiled.group_names;
    for (std::size_t group = 1; group < m.size(); ++group) {
        std::string const& name = names[group - 1];
        if (!pattern.has_named_groups) {
            captured.args.push_back(m[group].matched ? m[group].str() : std::string());
            continue;
        }
        // Django drops named groups that did not take part in the match.
        if (name.empty() || !m[group].matched) {
            continue;
        }
        auto it = pattern.converters.find(name);
        std::string text = m[group].str();
        auto value = convert(it == pattern.converters.end() ? nullptr : it->second.get(), text);
        if (!value) {
            return std::nullopt;
        }
        captured.typed_kwargs.insert_or_assign(name, std::move(*value));
        captured.kwargs.insert_or_assign(name, std::move(text));
    }
    return captured;
}

// Inner captures win over outer ones with the same name; args are appended (Channels).
void merge_into(UrlRoute& into, UrlRoute&& from) {
    for (auto& [name, value] : from.kwargs) {
        into.kwargs.insert_or_assign(name, std::move(value));
    }
    for (auto& [name, value] : from.typed_kwargs) {
        into.typed_kwargs.insert_or_assign(name, std::move(value));
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
    return Route(compile_re_path(regex), std::move(app));
}

Route re_path(std::string_view regex, URLRouter inner) {
    return Route(compile_re_path(regex),
                 std::make_shared<URLRouter const>(std::move(inner)));
}

URLRouter::URLRouter(std::vector<Route> routes)
    : routes_(std::make_shared<std::vector<Route> const>(std::move(routes))) {}

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
    for (auto const& route : *routes_) {
        Route::Pattern const& pattern = *route.pattern_;
        bool const leaf = route.inner_ == nullptr;
        svmatch m;
        bool matched = false;
        try {
            matched = leaf && pattern.leaf_matches_whole
                          ? boost::regex_match(rest.begin(), rest.end(), m, pattern.compiled.regex)
                          : boost::regex_search(rest.begin(), rest.end(), m,
                                                pattern.compiled.regex, boost::match_continuous);
        } catch (std::runtime_error const& e) {
            // Boost.Regex gives up on a match that backtracks too much, rather than hang.
            throw Error("route '" + pattern.text + "' could not be matched against a path of " +
                        std::to_string(rest.size()) + " bytes: " + e.what() +
                        ": simplify the pattern (nested repeats such as (a+)+ backtrack)");
        }
        if (!matched) {
            continue;
        }
        auto captured = captures_of(pattern, m);
        if (!captured) {
            continue; // a converter refused the text: as if the pattern did not match
        }
        if (leaf) {
            merge_into(out.url_route, std::move(*captured));
            out.app = &route.app_;
            return true;
        }
        RouteMatch inner{nullptr, out.url_route};
        merge_into(inner.url_route, std::move(*captured));
        if (route.inner_->match_into(rest.substr(static_cast<std::size_t>(m.length(0))), inner)) {
            out = std::move(inner);
            return true;
        }
    }
    return false;
}

// Not a coroutine: matching happens now and the returned awaitable shares this router's
// routes (which own the nested routers), so it does not depend on this router (or a
// temporary one) once it runs.
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
        std::shared_ptr<Application const> app(routes_, found->app);
        merge_into(scope.url_route, std::move(found->url_route));
        return detail::run_routed(std::move(app), std::move(scope), std::move(receive),
                                  std::move(send));
    } catch (...) {
        return detail::fail_routing(std::current_exception());
    }
}

} // namespace canal
