// Reply: one decoded RESP reply.
#pragma once

#include <string>
#include <vector>

namespace canal::redis {

/** One Redis reply (RESP2): a bulk or status string, an integer, nil, an array or an error. */
struct Reply {
    /** What the reply holds. */
    enum class Kind {
        nil,     ///< a nil bulk string or nil array
        string,  ///< a bulk string, in `str`
        status,  ///< a status line such as `OK`, in `str`
        integer, ///< an integer, in `integer`
        array,   ///< an array, in `elements`
        error,   ///< an error line such as `NOSCRIPT No matching script`, in `str`
    };

    /** The kind of reply. */
    Kind kind = Kind::nil;
    /** Text of string, status and error replies. */
    std::string str;
    /** Value of integer replies. */
    long long integer = 0;
    /** Elements of array replies. */
    std::vector<Reply> elements;

    /** True for error replies. */
    [[nodiscard]] bool is_error() const noexcept { return kind == Kind::error; }
    /** True for nil replies. */
    [[nodiscard]] bool is_nil() const noexcept { return kind == Kind::nil; }
};

} // namespace canal::redis
