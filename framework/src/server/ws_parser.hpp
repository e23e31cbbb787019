// WsParser: reads a client's websocket frames (RFC 6455 section 5) without sockets: masking,
// fragmentation, control frames, the message size limit and UTF-8 of text messages. The
// websocket session feeds it the bytes it reads; tests/server feeds it byte strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace canal::detail {

/**
 * Checks UTF-8 a piece at a time (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF); a code point may be split between pieces.
 */
class Utf8Validator {
public:
    /** False at the first invalid byte (and from then on). */
    bool feed(std::string_view bytes) noexcept;
    /** True when everything fed is valid and no code point is left unfinished. */
    [[nodiscard]] bool complete() const noexcept { return ok_ && need_ == 0; }
    void reset() noexcept { *this = Utf8Validator{}; }

private:
    bool ok_ = true;
    std::uint8_t need_ = 0;   // continuation bytes still expected
    std::uint8_t lo_ = 0x80;  // range of the next continuation byte
    std::uint8_t hi_ = 0xBF;
};

/** One thing the client sent, or why the connection must end. */
struct WsInput {
    enum class Kind {
        none,    ///< more bytes are needed
        text,    ///< a whole text message (payload)
        binary,  ///< a whole binary message (payload)
        ping,    ///< a ping (payload: what the pong echoes)
        pong,    ///< a pong
        close,   ///< a close frame (code: 0 when it carried none; payload: the reason)
        failure, ///< a protocol violation: close with `code` (1002, 1007, 1009)
    };
    Kind kind = Kind::none;
    std::string payload;
    int code = 0;
    /** For failures: what was wrong, for the log. */
    std::string_view what;
};

/**
 * The client frames of one connection, in order. After a close or a failure it reads
 * nothing more.
 */
class WsParser {
public:
    /** `max_message`: the largest message (after reassembly) accepted; larger is 1009. */
    explicit WsParser(std::size_t max_message) : max_message_(max_message) {}

    /**
     * Takes bytes from the front of `in` until one input is complete, and returns it
     * (Kind::none when `in` ran out first; the bytes are kept, so feed the rest later).
     */
    WsInput next(std::string_view& in);

    /** True after a close frame or a failure: nothing more is read. */
    [[nodiscard]] bool done() const noexcept { return done_; }

    /** Bytes held for a message not yet complete (reassembly), for the memory accounting. */
    [[nodiscard]] std::size_t buffered() const noexcept { return message_.size(); }

private:
    WsInput fail(int code, std::string_view what);
    WsInput frame_ready();
    bool header_complete(std::string_view& in);

    std::size_t max_message_;
    // The header being read (up to 14 bytes), then the frame's fields.
    unsigned char header_[14] = {};
    std::size_t header_len_ = 0;
    bool in_payload_ = false;
    bool fin_ = false;
    std::uint8_t opcode_ = 0;
    unsigned char mask_[4] = {};
    std::uint64_t remaining_ = 0;
    std::size_t mask_offset_ = 0;
    // The control frame being read (they may come between a message's fragments).
    std::string control_;
    // The data message being reassembled (opcode 1 or 2, 0 when none).
    std::uint8_t message_opcode_ = 0;
    std::string message_;
    Utf8Validator utf8_;
    bool done_ = false;
};

/** The Sec-WebSocket-Accept value answering `key` (RFC 6455 section 4.2.2). */
std::string websocket_accept_key(std::string_view key);

/**
 * Appends a server close frame: `code` (none when 0) and `reason` (cut to 123 bytes by the
 * caller).
 */
void append_close_frame(std::string& out, int code, std::string_view reason);

/** Appends a server control frame (ping 0x9 or pong 0xA) with `payload` (≤ 125 bytes). */
void append_control_frame(std::string& out, std::uint8_t opcode, std::string_view payload);

} // namespace canal::detail
