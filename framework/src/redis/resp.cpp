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

// hiredis 0.14 reserves an array's element pointers as soon as it reads the header, so a
// `*1333333333` from the server would make it ask for 10 GB (found by fuzzing). Arrays are
// created through this wrapper of hiredis' own function, which refuses larger ones.
constexpr int max_array_elements = 1 << 20;

// hiredis' own createArray, read from the first reader made.
void* (*hiredis_create_array)(redisReadTask const*, int) = nullptr;

void* create_bounded_array(redisReadTask const* task, int elements) {
    if (elements > max_array_elements) {
        *static_cast<int*>(task->privdata) = elements;
        return nullptr; // hiredis stops with an error; next() names the array
    }
    return hiredis_create_array(task, elements);
}

// hiredis' reply functions with create_bounded_array().
redisReplyObjectFunctions* bounded_functions(redisReplyObjectFunctions const& defaults) {
    static redisReplyObjectFunctions functions = [&] {
        hiredis_create_array = defaults.createArray;
        auto f = defaults;
        f.createArray = &create_bounded_array;
        return f;
    }();
    return &functions;
}

} // namespace

struct ReplyReader::State {
    State() = default;
    State(State const&) = delete;
    State& operator=(State const&) = delete;
    ~State() {
        if (reader != nullptr) {
            redisReaderFree(reader);
        }
    }
    redisReader* reader = nullptr;
    int refused_array = 0; // the element count of an array create_bounded_array() refused
};

ReplyReader::ReplyReader() : state_(std::make_unique<State>()) {
    state_->reader = redisReaderCreate();
    if (state_->reader == nullptr) {
        throw std::bad_alloc();
    }
    // Keep hiredis from holding on to a large buffer after a big reply.
    state_->reader->maxbuf = 64 * 1024;
    state_->reader->fn = bounded_functions(*state_->reader->fn);
    state_->reader->privdata = &state_->refused_array;
}

ReplyReader::~ReplyReader() = default;
ReplyReader::ReplyReader(ReplyReader&&) noexcept = default;
ReplyReader& ReplyReader::operator=(ReplyReader&&) noexcept = default;

void ReplyReader::feed(char const* data, std::size_t size) {
    if (redisReaderFeed(state_->reader, data, size) != REDIS_OK) {
        throw Error(std::string("Redis protocol error: ") + state_->reader->errstr);
    }
}

std::optional<Reply> ReplyReader::next() {
    void* raw = nullptr;
    if (redisReaderGetReply(state_->reader, &raw) != REDIS_OK) {
        if (state_->refused_array != 0) {
            throw Error("Redis protocol error: an array of " +
                        std::to_string(state_->refused_array) + " elements, over the limit of " +
                        std::to_string(max_array_elements));
        }
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
