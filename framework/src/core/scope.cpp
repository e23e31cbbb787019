// Scope helpers.
#include <canal/core/scope.hpp>

namespace canal {

std::string const* Scope::header(std::string_view name) const {
    for (auto const& [k, v] : headers) {
        if (k == name) {
            return &v;
        }
    }
    return nullptr;
}

} // namespace canal
