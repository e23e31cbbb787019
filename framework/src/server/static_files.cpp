// StaticFiles and file_response: read files from disk for HTTP applications.
#include <canal/server/static_files.hpp>

#include "detail/ascii.hpp"

#include <canal/core/errors.hpp>

#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

namespace canal {

namespace {

std::optional<std::string> read_file(std::filesystem::path const& p) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec)) {
        return std::nullopt;
    }
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

awaitable<void> serve_file(Send send, std::string method, std::filesystem::path file) {
    if (method != "GET" && method != "HEAD") {
        co_await send_http_response(send, 405, "text/plain; charset=utf-8",
                                    "method not allowed\n");
        co_return;
    }
    auto body = read_file(file);
    if (!body) {
        co_await send_http_response(send, 404, "text/plain; charset=utf-8", "not found\n");
        co_return;
    }
    co_await send_http_response(send, 200, std::string(content_type_for(file.filename().string())),
                                std::move(*body));
}

// Maps a decoded URL path below the prefix to a file under root, refusing any path that
// could leave root: empty, "." and ".." segments, backslashes and NULs are rejected.
std::optional<std::filesystem::path> resolve(std::filesystem::path const& root,
                                             std::string_view rest) {
    std::filesystem::path out = root;
    while (!rest.empty()) {
        auto slash = rest.find('/');
        auto seg = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
        if (seg.empty() && rest.empty()) {
            break; // trailing slash
        }
        if (seg.empty() || seg == "." || seg == ".." ||
            seg.find_first_of(std::string_view("\\\0", 2)) != std::string_view::npos) {
            return std::nullopt;
        }
        out /= std::string(seg);
    }
    return out;
}

} // namespace

StaticFiles::StaticFiles(std::filesystem::path root, std::string url_prefix)
    : root_(std::move(root)), prefix_(std::move(url_prefix)) {
    if (prefix_.empty() || prefix_.front() != '/') {
        prefix_.insert(prefix_.begin(), '/');
    }
    if (prefix_.back() != '/') {
        prefix_.push_back('/');
    }
}

awaitable<void> StaticFiles::operator()(Scope scope, Receive receive, Send send) const {
    (void)receive;
    if (scope.type != "http") {
        throw RouteNotFound("static files serve http only, not '" + scope.type + "'");
    }
    std::string_view path = scope.path;
    std::optional<std::filesystem::path> file;
    if (path.substr(0, prefix_.size()) == prefix_) {
        file = resolve(root_, path.substr(prefix_.size()));
    }
    if (!file) {
        co_await send_http_response(send, 404, "text/plain; charset=utf-8", "not found\n");
        co_return;
    }
    std::error_code ec;
    if (std::filesystem::is_directory(*file, ec)) {
        *file /= "index.html";
    }
    co_await serve_file(std::move(send), std::move(scope.method), std::move(*file));
}

Application file_response(std::filesystem::path file) {
    return [file = std::move(file)](Scope scope, Receive, Send send) {
        return serve_file(std::move(send), std::move(scope.method), file);
    };
}

awaitable<void> send_http_response(Send const& send, int status, std::string content_type,
                                   std::string body) {
    HttpResponseStart start{status, {}};
    start.headers.emplace_back("content-type", std::move(content_type));
    Event head = std::move(start);
    co_await send(std::move(head));
    HttpResponseBody part{std::move(body), false};
    Event body_event = std::move(part);
    co_await send(std::move(body_event));
}

std::string_view content_type_for(std::string_view filename) noexcept {
    struct Entry {
        std::string_view ext;
        std::string_view type;
    };
    static constexpr Entry table[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".wasm", "application/wasm"},
        {".woff2", "font/woff2"},
    };
    auto dot = filename.rfind('.');
    if (dot == std::string_view::npos) {
        return "application/octet-stream";
    }
    auto ext = filename.substr(dot);
    for (auto const& e : table) {
        if (detail::ascii_iequals(e.ext, ext)) {
            return e.type;
        }
    }
    return "application/octet-stream";
}

} // namespace canal
