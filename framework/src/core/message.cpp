// Message: the shared immutable payload and its once-per-key serialization memo.
#include <canal/core/message.hpp>

#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

namespace canal {

namespace detail {
struct MessageData {
    explicit MessageData(boost::json::object o) : obj(std::move(o)) {}
    boost::json::object obj;
    // Memo of serializations shared by every member of a group_send. A handful of
    // keys at most, so a vector beats a map.
    mutable std::mutex memo_mutex;
    mutable std::vector<std::pair<std::string, std::shared_ptr<std::string const>>> memo;
};
} // namespace detail

namespace {
std::shared_ptr<detail::MessageData const> const& empty_payload() {
    static auto const empty = std::make_shared<detail::MessageData const>(boost::json::object{});
    return empty;
}
} // namespace

Message::Message() : data_(empty_payload()) {}

Message::Message(
    std::initializer_list<std::pair<boost::json::string_view, boost::json::value_ref>> init)
    : data_(std::make_shared<detail::MessageData const>(boost::json::object(init))) {}

Message::Message(boost::json::object obj)
    : data_(std::make_shared<detail::MessageData const>(std::move(obj))) {}

std::string_view Message::type() const noexcept {
    auto const* t = data_->obj.if_contains("type");
    if (t == nullptr || !t->is_string()) {
        return {};
    }
    return t->get_string();
}

boost::json::value const& Message::at(std::string_view key) const {
    auto const* v = data_->obj.if_contains(key);
    if (v == nullptr) {
        throw std::out_of_range("message of type '" + std::string(type()) + "' has no field '" +
                                std::string(key) + "'");
    }
    return *v;
}

bool Message::contains(std::string_view key) const noexcept {
    return data_->obj.contains(key);
}

boost::json::object const& Message::object() const noexcept { return data_->obj; }

std::shared_ptr<std::string const>
Message::shared_text(std::string_view key, std::function<std::string()> const& make) const {
    std::lock_guard lock(data_->memo_mutex);
    for (auto const& [k, v] : data_->memo) {
        if (k == key) {
            return v;
        }
    }
    // Built under the lock so that concurrent members never serialize twice.
    auto text = std::make_shared<std::string const>(make());
    data_->memo.emplace_back(std::string(key), text);
    return text;
}

} // namespace canal
