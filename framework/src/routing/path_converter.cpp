// The path() converters: Django's built-in ones and those added with register_converter().
#include <canal/routing/path_converter.hpp>

#include "routing/converter_registry.hpp"
#include "routing/python_regex.hpp"

#include <charconv>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace canal {

namespace {

boost::json::value to_int(std::string_view text) {
    std::int64_t value = 0;
    auto const [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size()) {
        // Over 64 bits (Python's int has no limit): no match, so the client gets a 404.
        throw std::out_of_range("'" + std::string(text) + "' is not a 64-bit integer");
    }
    return value;
}

PathConverter text_converter(std::string regex) { return PathConverter{std::move(regex), {}}; }

struct Registry {
    std::mutex mutex;
    std::map<std::string, std::shared_ptr<PathConverter const>, std::less<>> converters;

    Registry() {
        // django/urls/converters.py
        add("str", text_converter("[^/]+"));
        add("int", PathConverter{"[0-9]+", to_int});
        add("slug", text_converter("[-a-zA-Z0-9_]+"));
        add("uuid",
            text_converter("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
        add("path", text_converter(".+"));
    }

    void add(std::string name, PathConverter converter) {
        converters.emplace(std::move(name),
                           std::make_shared<PathConverter const>(std::move(converter)));
    }
};

Registry& registry() {
    static Registry instance;
    return instance;
}

} // namespace

void register_converter(PathConverter converter, std::string type_name) {
    auto const fail = [&](std::string const& why) {
        throw std::invalid_argument("register_converter(): converter '" + type_name + "' " + why);
    };
    if (!detail::is_identifier(type_name)) {
        fail("has an invalid name: use letters, digits and '_', not starting with a digit");
    }
    if (converter.regex.empty()) {
        fail("has an empty regex: give the text it matches, e.g. \"[0-9]{4}\"");
    }
    try {
        (void)detail::compile_python_regex("(?:" + converter.regex + ")", "converter");
    } catch (std::invalid_argument const& e) {
        fail(std::string("has an invalid regex: ") + e.what());
    }
    auto& table = registry();
    std::lock_guard lock(table.mutex);
    if (table.converters.contains(type_name)) {
        fail("is already registered: choose another name");
    }
    table.add(std::move(type_name), std::move(converter));
}

std::vector<std::string> registered_converters() {
    auto& table = registry();
    std::lock_guard lock(table.mutex);
    std::vector<std::string> names;
    for (auto const& [name, converter] : table.converters) {
        names.push_back(name);
    }
    return names;
}

namespace detail {
std::shared_ptr<PathConverter const> find_converter(std::string_view type_name) {
    auto& table = registry();
    std::lock_guard lock(table.mutex);
    auto it = table.converters.find(type_name);
    return it == table.converters.end() ? nullptr : it->second;
}
} // namespace detail

} // namespace canal
