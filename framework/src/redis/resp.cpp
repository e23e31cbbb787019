// RESP framing: commands are written by hand (trivial), replies are parsed by hiredis.
#include "redis/resp.hpp"

#include <canal/core/errors.hpp>

#include <hiredis/hiredis.h>

#include <string_view>

namespace canal::redis::detail {

void encode_command(Command const& cmd, std::string& out) {
    out += '*';
    out += std::to_string(cmd.size());
    out += "\r\n";
    for (auto const& arg : cmd) {
        out += '$';
        out += std::to_string(arg.size());
        out += "\r\n";
        out += arg;
        out += "\r\n";
    }
}

namespace {

Reply convert(redisReply const& r) {
    Reply out;
    switch (r.type) {
    case REDIS_REPLY_STRING:
        out.kind = Reply::Kind::string;
        out.str.assign(r.str, r.len);
        break;
    case REDIS_REPLY_STATUS:
        out.kind = Reply::Kind::status;
        out.str.assign(r.str, r.len);
        break;
    case REDIS_REPLY_ERROR:
        out.kind = Reply::Kind::error;
        out.str.assign(r.str, r.len);
        break;
    case REDIS_REPLY_INTEGER:
        out.kind = Reply::Kind::integer;
        out.integer = r.integer;
        break;
    case REDIS_REPLY_ARRAY:
        out.kind = Reply::Kind::array;
        out.elements.reserve(r.elements);
        for (std::size_t i = 0; i < r.elements; ++i) {
            out.elements.push_back(convert(*r.element[i]));
        }
        break;
    default:
        out.kind = Reply::Kind::nil;
        break;
    }
    return out;
}

} // namespace

struct ReplyReader::State {
    redisReader* reader = nullptr;
};

ReplyReader::ReplyReader() : state_(std::make_unique<State>()) {
    state_->reader = redisReaderCreate();
    if (state_->reader == nullptr) {
        throw std::bad_alloc();
    }
    // Keep hiredis from holding on to a large buffer after a big reply.
    state_->reader->maxbuf = 64 * 1024;
}

ReplyReader::~ReplyReader() { redisReaderFree(state_->reader); }

void ReplyReader::feed(char const* data, std::size_t size) {
    if (redisReaderFeed(state_->reader, data, size) != REDIS_OK) {
        throw Error(std::string("Redis protocol error: ") + state_->reader->errstr);
    }
}

std::optional<Reply> ReplyReader::next() {
    void* raw = nullptr;
    if (redisReaderGetReply(state_->reader, &raw) != REDIS_OK) {
        throw Error(std::string("Redis protocol error: ") + state_->reader->errstr);
    }
    if (raw == nullptr) {
        return std::nullopt;
    }
    std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                       freeReplyObject);
    return convert(*reply);
}

} // namespace canal::redis::detail
