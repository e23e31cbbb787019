// A Redis connection's request multiplexing, sans I/O: requests (one command or a pipeline)
// are encoded into one output stream, and the replies read back are matched to them in
// order (Redis answers in order). Boost.Redis splits its connection the same way; the
// client (client.cpp) is the I/O shell around it. Tested without sockets
// (tests/redis/multiplexer_test.cpp).
#pragma once

#include "redis/resp.hpp"

#include <canal/redis/client.hpp>
#include <canal/redis/reply.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace canal::redis::detail {

class Multiplexer {
public:
    /** A request's number, in the order they were added (from 1). */
    using Id = std::uint64_t;

    /** A request whose replies have all arrived. */
    struct Done {
        /** The request. */
        Id id = 0;
        /** One reply per command, in order. */
        std::vector<Reply> replies;
    };

    /** Queues the commands as one request (their replies come back together); its id. */
    Id add(std::vector<Command> const& commands);

    /** True when there are bytes to write. */
    [[nodiscard]] bool has_output() const noexcept { return !out_.empty(); }

    /** Hands the bytes to write to the caller (swapped into `buffer`, which it clears). */
    void take_output(std::string& buffer);

    /**
     * Feeds bytes read from the connection; returns the requests they complete, in order.
     *
     * @throws canal::Error on a protocol error or a reply no request asked for: the
     * connection cannot be trusted any more (reset() it).
     */
    std::vector<Done> on_read(char const* data, std::size_t size);

    /**
     * Forgets the connection's state (it was lost or closed): unwritten bytes, a partly
     * read reply, and the requests still waiting, whose ids are returned in order.
     */
    std::vector<Id> reset();

    /** Requests sent or queued and not yet answered. */
    [[nodiscard]] std::size_t waiting() const noexcept { return waiting_.size(); }

private:
    struct Waiting {
        Id id;
        std::size_t expected;
        std::vector<Reply> replies;
    };

    std::string out_;
    std::deque<Waiting> waiting_;
    ReplyReader reader_;
    Id next_ = 1;
};

} // namespace canal::redis::detail
