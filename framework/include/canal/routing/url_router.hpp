// URLRouter, path() and re_path(): route a scope to an application by its path (channels.routing).
#pragma once

#include <canal/core/application.hpp>
#include <canal/routing/path_converter.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace canal {

class URLRouter;

/**
 * One route of a URLRouter: a pattern and what it leads to (an application, or an inner
 * router that matches the rest of the path). Build with path() or re_path().
 */
class Route {
public:
    /** A compiled pattern; shared because routes are copied into routers. */
    struct Pattern;

    /** A route to an application (path() and re_path() build these). */
    Route(std::shared_ptr<Pattern const> pattern, Application app);
    /** A route to an inner router that matches the rest of the path. */
    Route(std::shared_ptr<Pattern const> pattern, std::shared_ptr<URLRouter const> inner);

    /** The pattern as written. */
    [[nodiscard]] std::string const& pattern_text() const noexcept;

private:
    friend class URLRouter;
    std::shared_ptr<Pattern const> pattern_;
    Application app_;
    std::shared_ptr<URLRouter const> inner_;
};

/**
 * A Django-style route: `path("chat/<str:room_name>/", app)`.
 *
 * Converters: `<str:x>` (one segment, no `/`), `<int:x>` (digits; an integer in
 * `typed_kwargs`), `<slug:x>` (letters, digits, `-`, `_`), `<uuid:x>` (lower-case
 * `8-4-4-4-12` hex), `<path:x>` (anything, `/` included), and those added with
 * register_converter(); `<x>` means `<str:x>`. A value its converter refuses (an integer
 * over 64 bits) does not match, and the next route is tried. The pattern matches the whole
 * remaining path (without its leading `/`), or its prefix when the target is an inner
 * URLRouter. Throws std::invalid_argument on a malformed pattern or an unknown converter.
 */
Route path(std::string_view pattern, Application app);
/** A route to an inner router that matches the rest of the path (Django's include()). */
Route path(std::string_view pattern, URLRouter inner);

/**
 * A regular-expression route in Python's `re` syntax, as in Channels:
 * `re_path(R"(^ws/chat/(?P<room_name>\w+)/$)", app)`. Named groups (`(?P<name>...)`, or
 * `(?<name>...)`) go to kwargs, unnamed groups to args; backreferences, lookahead,
 * lookbehind and inline flags work as in Python. `\d`, `\w` and `\s` are ASCII classes
 * (Python's `re.ASCII`). A pattern without a trailing `$` matches a prefix of the path.
 * Throws std::invalid_argument, naming the pattern and the problem, on a malformed
 * pattern or a repetition count over 1000. A match that backtracks without end (nested
 * repeats such as `(a+)+` on a long path) throws canal::Error instead of hanging.
 */
Route re_path(std::string_view regex, Application app);
/** A regular-expression route to an inner router. */
Route re_path(std::string_view regex, URLRouter inner);

/** What URLRouter::match() found. */
struct RouteMatch {
    /** The application the path leads to (through nested routers). */
    Application const* app = nullptr;
    /** Captures of every router on the way, inner ones last. */
    UrlRoute url_route;
};

/**
 * Routes a scope by its path to the first matching route (channels.routing.URLRouter).
 *
 * Called as an application, it fills `scope.url_route` and runs the target; when nothing
 * matches it throws RouteNotFound (the server answers HTTP 404 and logs the path).
 */
class URLRouter {
public:
    /** Tries `routes` in order; the first match wins. */
    explicit URLRouter(std::vector<Route> routes);

    /**
     * Copies share the routes (they never change). A "moved" router is copied, so that it
     * still routes.
     */
    URLRouter(URLRouter const&) = default;
    /** As the copy constructor: shares `other`'s routes. */
    URLRouter& operator=(URLRouter const& other) = default;
    /** Lets go of this copy's share of the routes. */
    ~URLRouter() = default;

    /** Runs the application the scope's path leads to. */
    awaitable<void> operator()(Scope scope, Receive receive, Send send) const;

    /**
     * Matches `path` (with or without its leading `/`) without running anything.
     * The result points into this router; it stays valid while the router lives.
     */
    [[nodiscard]] std::optional<RouteMatch> match(std::string_view path) const;

private:
    [[nodiscard]] bool match_into(std::string_view rest, RouteMatch& out) const;
    // Shared by the router's copies: a connection's awaitable keeps them alive, not a copy.
    std::shared_ptr<std::vector<Route> const> routes_;
};

} // namespace canal
