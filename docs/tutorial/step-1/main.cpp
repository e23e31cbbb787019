// mysite: serves the chat lobby page at /chat/.
#include <canal/routing/url_router.hpp>
#include <canal/server/server.hpp>
#include <canal/server/static_files.hpp>

#include <filesystem>

int main(int argc, char** argv) {
    std::filesystem::path const static_dir = MYSITE_STATIC_DIR;
    canal::URLRouter app{{
        canal::path("chat/", canal::file_response(static_dir / "index.html")),
    }};
    return canal::run(std::move(app), canal::Settings::from_args(argc, argv));
}
