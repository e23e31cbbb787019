// Fuzz target: RESP replies from a Redis server, decoded by hiredis' reader into canal's
// redis::Reply (ReplyReader). The input is fed in pieces (its first byte picks their size), as
// TCP delivers it; a protocol error is a canal::Error, after which the stream is abandoned.
#include "redis/resp.hpp"

#include <canal/core/errors.hpp>

#include "fuzz_input.hpp"

#include <algorithm>

namespace {

std::size_t count(canal::redis::Reply const& r, int depth) {
    if (depth > 64) {
        canal::fuzz::broken("a reply nested deeper than hiredis allows");
    }
    if (r.kind != canal::redis::Reply::Kind::array && !r.elements.empty()) {
        canal::fuzz::broken("a reply that is not an array has elements");
    }
    std::size_t n = 1;
    for (auto const& e : r.elements) {
        n += count(e, depth + 1);
    }
    return n;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::size_t const piece = 1 + data[0] % 64;
    auto const bytes = canal::fuzz::text(data + 1, size - 1);
    canal::redis::detail::ReplyReader reader;
    try {
        for (std::size_t at = 0; at < bytes.size(); at += piece) {
            auto const part = bytes.substr(at, piece);
            reader.feed(part.data(), part.size());
            while (auto reply = reader.next()) {
                (void)count(*reply, 0);
            }
        }
    } catch (canal::Error const&) {
        return 0; // "Redis protocol error: ...": the client drops the connection
    }
    return 0;
}
