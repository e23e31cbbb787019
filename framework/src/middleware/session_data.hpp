// Session data as stored outside the process (RedisSessionStore): JSON text, decoded here.
#pragma once

#include <boost/json/object.hpp>

#include <optional>
#include <string_view>

namespace canal::detail {

/**
 * The session data that `text` holds, or nothing when it is not a JSON object (written by
 * something else): such a value is no session. Never throws on malformed input.
 */
std::optional<boost::json::object> decode_session_data(std::string_view text);

} // namespace canal::detail
