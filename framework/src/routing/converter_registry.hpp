// Internal: the process-wide table of path() converters, built-in and registered.
#pragma once

#include <canal/routing/path_converter.hpp>

#include <memory>
#include <string_view>

namespace canal::detail {

/** The converter registered as `type_name`, or null. */
std::shared_ptr<PathConverter const> find_converter(std::string_view type_name);

} // namespace canal::detail
