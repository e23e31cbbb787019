// Websocket frame headers for the frames a server writes (RFC 6455 section 5.2): one
// unfragmented, unmasked frame per message. Sans-I/O, tested without sockets.
#pragma once

#include <cstddef>
#include <string>

namespace canal::detail {

/** Longest header append_frame_header() writes (2 bytes, then a 64-bit length). */
inline constexpr std::size_t max_frame_header = 10;

/**
 * Appends the header of one final (FIN), unmasked server frame of `size` payload bytes:
 * opcode 2 when `binary`, else 1 (text).
 */
void append_frame_header(std::string& out, bool binary, std::size_t size);

} // namespace canal::detail
