// What the fuzz targets share: the input as text, split into fields; a broken property.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace canal::fuzz {

/** The fuzz input as text. */
inline std::string_view text(std::uint8_t const* data, std::size_t size) {
    return {reinterpret_cast<char const*>(data), size};
}

/** `text` split at `sep` (`"a\nb\n"` gives "a", "b", ""). */
inline std::vector<std::string_view> split(std::string_view text, char sep = '\n') {
    std::vector<std::string_view> out;
    for (;;) {
        auto const at = text.find(sep);
        out.push_back(text.substr(0, at));
        if (at == std::string_view::npos) {
            return out;
        }
        text.remove_prefix(at + 1);
    }
}

/** Stops the fuzzer (a crash it saves the input of): a property the code promises is broken. */
[[noreturn]] inline void broken(char const* what) {
    std::fprintf(stderr, "property broken: %s\n", what);
    std::abort();
}

} // namespace canal::fuzz
