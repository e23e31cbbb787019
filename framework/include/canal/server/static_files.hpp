// StaticFiles and FileResponse: HTTP applications that serve files from a directory.
#pragma once

#include <canal/core/application.hpp>

#include <filesystem>
#include <string>
#include <string_view>

namespace canal {

/**
 * Serves files under `root` for GET and HEAD: `/prefix/a/b.css` → `root/a/b.css`, with a
 * content type from the extension. Paths that leave `root` (`..`, encoded or not) and
 * missing files get 404; other methods 405.
 */
class StaticFiles {
public:
    /** Serves `root` under the URL path `url_prefix`. */
    explicit StaticFiles(std::filesystem::path root, std::string url_prefix = "/");
    /** Answers one HTTP request. */
    awaitable<void> operator()(Scope scope, Receive receive, Send send) const;

private:
    std::filesystem::path root_;
    std::string prefix_;
};

/** An HTTP application that always serves one file (e.g. a page for a route). */
Application file_response(std::filesystem::path file);

/** Sends a complete HTTP response from an HTTP application. */
awaitable<void> send_http_response(Send const& send, int status, std::string content_type,
                                   std::string body);

/** The content type for a file name's extension (`application/octet-stream` if unknown). */
std::string_view content_type_for(std::string_view filename) noexcept;

} // namespace canal
