// A program built with pkg-config's flags for the installed canal (no CMake): a layer message
// and the version header. Exits 0 when both are as expected.
#include <canal/core/message.hpp>
#include <canal/version.hpp>

#include <iostream>
#include <string>

static_assert(CANAL_VERSION == CANAL_VERSION_MAJOR * 10000 + CANAL_VERSION_MINOR * 100 +
                                   CANAL_VERSION_PATCH);

int main() {
    canal::Message const m{{"type", "chat.message"}, {"text", "hello"}};
    bool const ok = m.type() == "chat.message" && std::string(CANAL_VERSION_STRING).find('.') != std::string::npos;
    std::cout << (ok ? "pkg_config_consumer: ok\n" : "pkg_config_consumer: unexpected message\n");
    return ok ? 0 : 1;
}
