// JSON framing shared by the JSON websocket consumers.
#include "consumers/json_frames.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/system/system_error.hpp>

namespace canal::detail {

boost::json::value default_decode_json(std::string const& text) { return boost::json::parse(text); }

std::string default_encode_json(boost::json::value const& content) {
    return boost::json::serialize(content);
}

std::optional<boost::json::value>
decode_frame(std::function<boost::json::value(std::string const&)> const& decode,
             std::string const& text, std::string& error) {
    try {
        return decode(text);
    } catch (boost::system::system_error const& e) {
        error = e.code().message(); // what() would add a source location
    } catch (std::exception const& e) {
        error = e.what();
    }
    return std::nullopt;
}

std::pair<int, std::string> invalid_frame_close(bool binary, std::string const& error) {
    if (binary) {
        return {1003, "binary frames are not accepted"};
    }
    return {1007, "invalid JSON: " + error};
}

} // namespace canal::detail
