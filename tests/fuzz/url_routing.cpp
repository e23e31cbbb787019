// Fuzz target: URL routing. A client controls the path; path() converters and re_path()'s
// reading of Python's syntax (Boost.Regex underneath) run on the developer's patterns. Input: either a path matched against a
// router like the sample apps' (with nesting and re_path), or "p PATTERN" / "r REGEX" on the
// first line and paths on the next ones.
#include <canal/routing/url_router.hpp>

#include <canal/core/errors.hpp>

#include "fuzz_input.hpp"

#include <optional>
#include <stdexcept>
#include <vector>

namespace {

canal::Application const nothing = [](canal::Scope, canal::Receive,
                                      canal::Send) -> canal::awaitable<void> { co_return; };

canal::URLRouter const& fixed_router() {
    static canal::URLRouter const router{{
        canal::path("ws/chat/<str:room_name>/", nothing),
        canal::path("items/<int:id>/<slug:slug>/", nothing),
        canal::path("static/<path:file>", nothing),
        canal::path("api/", canal::URLRouter{{
                                canal::path("v<int:version>/users/<str:name>/", nothing),
                                canal::re_path(R"(^files/(?P<name>[\w.-]+)\.(?P<ext>txt|md)$)",
                                               nothing),
                            }}),
        canal::re_path(R"(^ws/(?P<kind>[a-z]+)/(\d+)/$)", nothing),
        canal::re_path(R"(^any/(.*)$)", nothing),
    }};
    return router;
}

void check_match(canal::URLRouter const& router, std::string_view path) {
    std::optional<canal::RouteMatch> m;
    try {
        m = router.match(path);
    } catch (canal::Error const&) {
        // Documented: Boost.Regex gives up on a match that backtracks too much (a pattern
        // with nested repeats) with canal::Error, rather than hang.
        return;
    }
    if (m && m->app == nullptr) {
        canal::fuzz::broken("a match without an application");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto const input = canal::fuzz::text(data, size);
    auto const lines = canal::fuzz::split(input);
    if (lines.size() < 2 || lines[0].size() < 2 || (lines[0][0] != 'p' && lines[0][0] != 'r') ||
        lines[0][1] != ' ') {
        check_match(fixed_router(), input);
        return 0;
    }
    // Patterns are the developer's: keep them short.
    auto const pattern = lines[0].substr(2, 200);
    std::optional<canal::URLRouter> router;
    try {
        auto route = lines[0][0] == 'p' ? canal::path(pattern, nothing)
                                        : canal::re_path(pattern, nothing);
        router.emplace(std::vector<canal::Route>{std::move(route)});
    } catch (std::invalid_argument const&) {
        return 0; // a pattern that path()/re_path() refuse, with a message
    }
    for (std::size_t i = 1; i < lines.size(); ++i) {
        check_match(*router, lines[i]);
    }
    return 0;
}
