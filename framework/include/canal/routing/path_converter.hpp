// PathConverter and register_converter(): the `<type:name>` converters of path() (Django's
// path converters and django.urls.register_converter).
#pragma once

#include <boost/json/value.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace canal {

/**
 * What a `<type:name>` part of a path() pattern matches, and the value it gives
 * (Django's converter classes: `regex` and `to_python`).
 *
 * Built in: `str` (`[^/]+`, a string), `int` (`[0-9]+`, a 64-bit integer: a larger number
 * does not match), `slug` (`[-a-zA-Z0-9_]+`), `uuid` (Django's lower-case 8-4-4-4-12 hex
 * form, a string) and `path` (`.+`, slashes included).
 */
struct PathConverter {
    /** The text it matches, in Python's regex syntax (as re_path()); no anchors. */
    std::string regex;
    /**
     * The kwarg's value for the matched text (it lands in `UrlRoute::typed_kwargs`).
     * Throw std::invalid_argument or std::out_of_range (Django's ValueError) to make the
     * route not match, so that the next route is tried. Empty: the text as a JSON string.
     */
    std::function<boost::json::value(std::string_view)> to_python;
};

/**
 * Makes `<type_name:x>` available to path() patterns written after this call (Django's
 * `register_converter(converter, type_name)`), in the whole process.
 *
 * Throws std::invalid_argument when `type_name` is not an identifier or is already
 * registered (the built-in ones included), or when `converter.regex` is empty or not a
 * valid regex.
 *
 * @par Thread safety
 * Safe to call from any thread; routes built earlier keep the converters they were built with.
 */
void register_converter(PathConverter converter, std::string type_name);

/** The names of the registered converters, built-in ones included, sorted. */
[[nodiscard]] std::vector<std::string> registered_converters();

} // namespace canal
