// Websocket frame headers for server frames.
#include "server/frame_header.hpp"

#include <array>
#include <cstdint>

namespace canal::detail {

void append_frame_header(std::string& out, bool binary, std::size_t size) {
    std::array<char, max_frame_header> h{};
    std::size_t n = 2;
    h[0] = static_cast<char>(0x80U | (binary ? 0x2U : 0x1U));
    if (size < 126) {
        h[1] = static_cast<char>(size);
    } else if (size <= 0xFFFFU) {
        h[1] = static_cast<char>(126);
        h[2] = static_cast<char>((size >> 8U) & 0xFFU);
        h[3] = static_cast<char>(size & 0xFFU);
        n = 4;
    } else {
        h[1] = static_cast<char>(127);
        auto const v = static_cast<std::uint64_t>(size);
        for (std::size_t i = 0; i < 8; ++i) {
            h[2 + i] = static_cast<char>((v >> (8U * (7U - i))) & 0xFFU);
        }
        n = 10;
    }
    out.append(h.data(), n);
}

} // namespace canal::detail
