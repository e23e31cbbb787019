// Fuzz target: the bytes a websocket client sends after the handshake, read by WsParser
// (frames, masking, fragments, control frames, the size limit, UTF-8). The input is fed in
// pieces (its first byte picks their size), as TCP delivers it; what comes out must not
// depend on how the bytes were split.
#include "server/ws_parser.hpp"

#include "fuzz_input.hpp"

#include <string>
#include <vector>

namespace {

constexpr std::size_t max_message = 4096;

struct Seen {
    canal::detail::WsInput::Kind kind;
    std::string payload;
    int code;
};

std::vector<Seen> parse(std::string_view bytes, std::size_t piece) {
    canal::detail::WsParser parser(max_message);
    std::vector<Seen> out;
    for (std::size_t at = 0; at < bytes.size() && !parser.done(); at += piece) {
        auto part = bytes.substr(at, piece);
        while (!part.empty() && !parser.done()) {
            auto in = parser.next(part);
            if (in.kind == canal::detail::WsInput::Kind::none) {
                if (!part.empty()) {
                    canal::fuzz::broken("nothing returned while bytes were left");
                }
                break;
            }
            out.push_back(Seen{in.kind, std::move(in.payload), in.code});
        }
    }
    if (parser.done()) {
        std::string_view more("\x81\x80\0\0\0\0", 6);
        if (parser.next(more).kind != canal::detail::WsInput::Kind::none) {
            canal::fuzz::broken("the parser read on after a close or a failure");
        }
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    std::size_t const piece = 1 + data[0] % 32;
    auto const bytes = canal::fuzz::text(data + 1, size - 1);
    auto const whole = parse(bytes, bytes.size() + 1);
    auto const pieces = parse(bytes, piece);
    if (whole.size() != pieces.size()) {
        canal::fuzz::broken("split input gave a different number of inputs");
    }
    using Kind = canal::detail::WsInput::Kind;
    for (std::size_t i = 0; i < whole.size(); ++i) {
        auto const& a = whole[i];
        auto const& b = pieces[i];
        if (a.kind != b.kind || a.payload != b.payload || a.code != b.code) {
            canal::fuzz::broken("split input gave a different input");
        }
        if ((a.kind == Kind::text || a.kind == Kind::binary) && a.payload.size() > max_message) {
            canal::fuzz::broken("a message over the limit came out");
        }
        if (a.kind == Kind::text) {
            canal::detail::Utf8Validator v;
            if (!v.feed(a.payload) || !v.complete()) {
                canal::fuzz::broken("a text message that is not UTF-8 came out");
            }
        }
        if (a.kind == Kind::failure && a.code != 1002 && a.code != 1007 && a.code != 1009) {
            canal::fuzz::broken("a failure with an unexpected close code");
        }
        if ((a.kind == Kind::close || a.kind == Kind::failure) && i + 1 != whole.size()) {
            canal::fuzz::broken("an input after a close or a failure");
        }
    }
    return 0;
}
