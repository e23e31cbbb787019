// A Redis connection's request multiplexing, sans I/O (see multiplexer.hpp).
#include "redis/multiplexer.hpp"

#include <canal/core/errors.hpp>

#include <utility>

namespace canal::redis::detail {

Multiplexer::Id Multiplexer::add(std::vector<Command> const& commands) {
    if (commands.empty()) {
        throw Error("Redis request without commands");
    }
    for (auto const& c : commands) {
        encode_command(c, out_);
    }
    Waiting w{next_++, commands.size(), {}};
    w.replies.reserve(w.expected);
    auto const id = w.id;
    waiting_.push_back(std::move(w));
    return id;
}

void Multiplexer::take_output(std::string& buffer) {
    buffer.clear();
    buffer.swap(out_);
}

std::vector<Multiplexer::Done> Multiplexer::on_read(char const* data, std::size_t size) {
    std::vector<Done> done;
    reader_.feed(data, size);
    while (auto reply = reader_.next()) {
        if (waiting_.empty()) {
            throw Error("Redis protocol error: a reply nobody asked for");
        }
        auto& front = waiting_.front();
        front.replies.push_back(std::move(*reply));
        if (front.replies.size() == front.expected) {
            done.push_back(Done{front.id, std::move(front.replies)});
            waiting_.pop_front();
        }
    }
    return done;
}

std::vector<Multiplexer::Id> Multiplexer::reset() {
    std::vector<Id> lost;
    lost.reserve(waiting_.size());
    for (auto const& w : waiting_) {
        lost.push_back(w.id);
    }
    waiting_.clear();
    out_.clear();
    reader_ = ReplyReader();
    return lost;
}

} // namespace canal::redis::detail
