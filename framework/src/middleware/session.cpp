// Session: values, key rotation and saving to the store.
#include <canal/middleware/session.hpp>

#include "detail/crypto.hpp"

#include <utility>

namespace canal {

Session::Session(std::shared_ptr<SessionStore> store, std::string key, boost::json::object data,
                 std::chrono::seconds max_age)
    : store_(std::move(store)), key_(std::move(key)), data_(std::move(data)), max_age_(max_age) {}

boost::json::value const* Session::get(std::string_view name) const {
    return data_.if_contains(name);
}

void Session::set(std::string_view name, boost::json::value value) {
    data_[name] = std::move(value);
    modified_ = true;
}

bool Session::erase(std::string_view name) {
    if (data_.erase(name) == 0) {
        return false;
    }
    modified_ = true;
    return true;
}

void Session::cycle_key() {
    if (!key_.empty()) {
        stale_keys_.push_back(std::exchange(key_, {}));
    }
    modified_ = true;
}

void Session::flush() {
    data_.clear();
    cycle_key();
}

awaitable<void> Session::save() {
    auto stale = std::exchange(stale_keys_, {});
    if (data_.empty()) {
        if (!key_.empty()) {
            stale.push_back(std::exchange(key_, {}));
        }
    } else {
        if (key_.empty()) {
            key_ = new_key();
        }
        std::string key = key_;
        boost::json::object data = data_;
        co_await store_->save(std::move(key), std::move(data), max_age_);
    }
    for (auto& old : stale) {
        co_await store_->remove(std::move(old));
    }
    modified_ = false;
}

std::string Session::new_key() { return detail::to_hex(detail::random_bytes(32)); }

bool Session::is_valid_key(std::string_view key) noexcept { return detail::is_lower_hex(key, 64); }

} // namespace canal
