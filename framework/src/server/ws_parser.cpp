// WsParser: the client frames of a websocket connection, read without sockets.
#include "server/ws_parser.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace canal::detail {

namespace {
constexpr std::uint8_t op_continuation = 0x0;
constexpr std::uint8_t op_text = 0x1;
constexpr std::uint8_t op_binary = 0x2;
constexpr std::uint8_t op_close = 0x8;
constexpr std::uint8_t op_ping = 0x9;
constexpr std::uint8_t op_pong = 0xA;
constexpr std::size_t max_control_payload = 125;

bool is_control(std::uint8_t opcode) { return (opcode & 0x8U) != 0; }
} // namespace

bool Utf8Validator::feed(std::string_view bytes) noexcept {
    auto const* p = reinterpret_cast<unsigned char const*>(bytes.data());
    auto const* const end = p + bytes.size();
    while (ok_ && p != end) {
        if (need_ == 0) {
            // ASCII runs, the common case, eight bytes at a time.
            while (end - p >= 8) {
                std::uint64_t word = 0;
                std::memcpy(&word, p, 8);
                if ((word & 0x8080808080808080ULL) != 0) {
                    break;
                }
                p += 8;
            }
            if (p == end) {
                break;
            }
            unsigned char const b = *p++;
            if (b < 0x80) {
                continue;
            }
            lo_ = 0x80;
            hi_ = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) {
                need_ = 1;
            } else if (b >= 0xE0 && b <= 0xEF) {
                need_ = 2;
                if (b == 0xE0) {
                    lo_ = 0xA0; // no overlong three-byte forms
                } else if (b == 0xED) {
                    hi_ = 0x9F; // no surrogates
                }
            } else if (b >= 0xF0 && b <= 0xF4) {
                need_ = 3;
                if (b == 0xF0) {
                    lo_ = 0x90; // no overlong four-byte forms
                } else if (b == 0xF4) {
                    hi_ = 0x8F; // nothing above U+10FFFF
                }
            } else {
                ok_ = false; // a continuation byte first, C0/C1 (overlong) or F5..FF
            }
        } else {
            unsigned char const b = *p++;
            if (b < lo_ || b > hi_) {
                ok_ = false;
            } else {
                --need_;
                lo_ = 0x80;
                hi_ = 0xBF;
            }
        }
    }
    return ok_;
}

WsInput WsParser::fail(int code, std::string_view what) {
    done_ = true;
    std::string().swap(message_);
    WsInput out;
    out.kind = WsInput::Kind::failure;
    out.code = code;
    out.what = what;
    return out;
}

WsInput WsParser::next(std::string_view& in) {
    while (!done_) {
        if (!in_payload_) {
            // The first two bytes say how long the rest of the header is.
            auto header_size = [this]() -> std::size_t {
                if (header_len_ < 2) {
                    return 2;
                }
                std::uint8_t const len7 = header_[1] & 0x7FU;
                return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
            };
            while (header_len_ < header_size()) {
                if (in.empty()) {
                    return {};
                }
                header_[header_len_++] = static_cast<unsigned char>(in.front());
                in.remove_prefix(1);
                if (header_len_ == 2) {
                    if ((header_[0] & 0x70U) != 0) {
                        return fail(1002, "reserved bits set (no extension was negotiated)");
                    }
                    if ((header_[1] & 0x80U) == 0) {
                        return fail(1002, "unmasked client frame");
                    }
                }
            }
            header_len_ = 0;
            fin_ = (header_[0] & 0x80U) != 0;
            opcode_ = header_[0] & 0x0FU;
            std::uint8_t const len7 = header_[1] & 0x7FU;
            std::size_t at = 2;
            std::uint64_t len = len7;
            if (len7 == 126) {
                len = (std::uint64_t{header_[2]} << 8U) | header_[3];
                at = 4;
                if (len < 126) {
                    return fail(1002, "frame length not in its shortest form");
                }
            } else if (len7 == 127) {
                len = 0;
                for (std::size_t i = 0; i < 8; ++i) {
                    len = (len << 8U) | header_[2 + i];
                }
                at = 10;
                if ((len >> 63U) != 0) {
                    return fail(1002, "frame length with its top bit set");
                }
                if (len <= 0xFFFFU) {
                    return fail(1002, "frame length not in its shortest form");
                }
            }
            std::memcpy(mask_, header_ + at, 4);
            mask_offset_ = 0;
            remaining_ = len;

            if (is_control(opcode_)) {
                if (opcode_ != op_close && opcode_ != op_ping && opcode_ != op_pong) {
                    return fail(1002, "unknown control opcode");
                }
                if (!fin_) {
                    return fail(1002, "fragmented control frame");
                }
                if (len > max_control_payload) {
                    return fail(1002, "control frame over 125 bytes");
                }
                control_.clear();
            } else {
                if (opcode_ != op_continuation && opcode_ != op_text && opcode_ != op_binary) {
                    return fail(1002, "unknown data opcode");
                }
                if (opcode_ == op_continuation && message_opcode_ == 0) {
                    return fail(1002, "continuation frame without a message to continue");
                }
                if (opcode_ != op_continuation && message_opcode_ != 0) {
                    return fail(1002, "new message before the previous one's last frame");
                }
                if (opcode_ != op_continuation) {
                    message_opcode_ = opcode_;
                }
                if (len > max_message_ || message_.size() > max_message_ - len) {
                    return fail(1009, "message over the size limit");
                }
            }
            in_payload_ = true;
        }

        std::size_t const n =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
        std::string& target = is_control(opcode_) ? control_ : message_;
        std::size_t const start = target.size();
        target.append(in.data(), n);
        char* p = target.data() + start;
        for (std::size_t i = 0; i < n; ++i) {
            p[i] = static_cast<char>(static_cast<unsigned char>(p[i]) ^ mask_[(mask_offset_ + i) & 3U]);
        }
        mask_offset_ = (mask_offset_ + n) & 3U;
        in.remove_prefix(n);
        remaining_ -= n;
        if (!is_control(opcode_) && message_opcode_ == op_text &&
            !utf8_.feed(std::string_view(p, n))) {
            return fail(1007, "text message that is not UTF-8");
        }
        if (remaining_ > 0) {
            return {};
        }
        in_payload_ = false;
        if (auto ready = frame_ready(); ready.kind != WsInput::Kind::none) {
            return ready;
        }
    }
    return {};
}

WsInput WsParser::frame_ready() {
    WsInput out;
    switch (opcode_) {
    case op_ping:
        out.kind = WsInput::Kind::ping;
        out.payload = control_;
        return out;
    case op_pong:
        out.kind = WsInput::Kind::pong;
        return out;
    case op_close: {
        if (control_.size() == 1) {
            return fail(1002, "close frame with a one-byte payload");
        }
        done_ = true;
        out.kind = WsInput::Kind::close;
        if (control_.size() >= 2) {
            out.code = (static_cast<unsigned char>(control_[0]) << 8U) |
                       static_cast<unsigned char>(control_[1]);
            Utf8Validator reason;
            if (!reason.feed(std::string_view(control_).substr(2)) || !reason.complete()) {
                return fail(1007, "close reason that is not UTF-8");
            }
            out.payload = control_.substr(2);
        }
        std::string().swap(control_);
        return out;
    }
    default:
        break;
    }
    if (!fin_) {
        return out; // more fragments to come
    }
    if (message_opcode_ == op_text) {
        if (!utf8_.complete()) {
            return fail(1007, "text message that is not UTF-8");
        }
        out.kind = WsInput::Kind::text;
    } else {
        out.kind = WsInput::Kind::binary;
    }
    out.payload = std::move(message_);
    message_ = std::string();
    message_opcode_ = 0;
    utf8_.reset();
    return out;
}

std::string websocket_accept_key(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input;
    input.reserve(key.size() + guid.size());
    input.append(key);
    input.append(guid);
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<unsigned char const*>(input.data()), input.size(), digest.data());
    std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> out{};
    int const n = EVP_EncodeBlock(out.data(), digest.data(), static_cast<int>(digest.size()));
    return std::string(reinterpret_cast<char const*>(out.data()), static_cast<std::size_t>(n));
}

void append_control_frame(std::string& out, std::uint8_t opcode, std::string_view payload) {
    std::size_t const n = std::min(payload.size(), max_control_payload);
    out.push_back(static_cast<char>(0x80U | opcode));
    out.push_back(static_cast<char>(n));
    out.append(payload.data(), n);
}

void append_close_frame(std::string& out, int code, std::string_view reason) {
    std::string payload;
    if (code != 0) {
        payload.push_back(static_cast<char>((static_cast<unsigned>(code) >> 8U) & 0xFFU));
        payload.push_back(static_cast<char>(static_cast<unsigned>(code) & 0xFFU));
        payload.append(reason.substr(0, max_control_payload - 2));
    }
    append_control_frame(out, op_close, payload);
}

} // namespace canal::detail
