// JSON framing shared by AsyncJsonWebsocketConsumer and JsonWebsocketConsumer.
#pragma once

#include <boost/json/value.hpp>

#include <functional>
#include <optional>
#include <string>
#include <utility>

namespace canal::detail {

boost::json::value default_decode_json(std::string const& text);
std::string default_encode_json(boost::json::value const& content);

/** Decodes with `decode`; on failure returns nothing and a readable `error`. */
std::optional<boost::json::value>
decode_frame(std::function<boost::json::value(std::string const&)> const& decode,
             std::string const& text, std::string& error);

/** The default answer to an undecodable frame: 1003 for binary, 1007 for invalid JSON. */
std::pair<int, std::string> invalid_frame_close(bool binary, std::string const& error);

} // namespace canal::detail
