// RESP framing, sans I/O: command encoding, and reply decoding through hiredis' reader.
#pragma once

#include <canal/redis/client.hpp>
#include <canal/redis/reply.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

namespace canal::redis::detail {

/** Appends `cmd` to `out` as a RESP array of bulk strings. */
void encode_command(Command const& cmd, std::string& out);

/** Decodes replies from a byte stream with hiredis' reader (RESP2). */
class ReplyReader {
public:
    ReplyReader();
    ~ReplyReader();
    ReplyReader(ReplyReader const&) = delete;
    ReplyReader& operator=(ReplyReader const&) = delete;
    ReplyReader(ReplyReader&&) noexcept;
    ReplyReader& operator=(ReplyReader&&) noexcept;

    /** Adds received bytes. */
    void feed(char const* data, std::size_t size);

    /**
     * The next complete reply, or nothing until more bytes arrive.
     *
     * @throws canal::Error on a protocol error (the stream cannot be resynchronized).
     */
    std::optional<Reply> next();

private:
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace canal::redis::detail
