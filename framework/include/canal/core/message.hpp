// Message: an immutable channel-layer message (a JSON object with a "type"), shared, not copied.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_ref.hpp>

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

namespace canal {

namespace detail {
struct MessageData;
}

/**
 * A channel layer message: a JSON object whose `"type"` names the handler
 * (`"chat.message"` is dispatched to the handler registered for it).
 *
 * A Message is immutable once built. Copies share one payload, so a group_send to
 * 500 members queues 500 pointers to the same object. `shared_text()` lets every
 * member's handler reuse one serialization of what it sends.
 *
 * @par Thread safety
 * Distinct and shared objects: safe. The payload is never modified after construction.
 */
class Message {
public:
    /** An empty message (no type). */
    Message();
    /** Builds from a JSON object, e.g. `Message{{"type", "chat.message"}, {"message", text}}`. */
    Message(std::initializer_list<std::pair<boost::json::string_view, boost::json::value_ref>> init);
    /** Takes ownership of a JSON object. */
    explicit Message(boost::json::object obj);

    /** The `"type"` field, or empty when missing or not a string. */
    [[nodiscard]] std::string_view type() const noexcept;
    /** The field `key`; throws std::out_of_range naming the key when missing. */
    [[nodiscard]] boost::json::value const& at(std::string_view key) const;
    /** True when the field exists. */
    [[nodiscard]] bool contains(std::string_view key) const noexcept;
    /** The whole object. */
    [[nodiscard]] boost::json::object const& object() const noexcept;

    /**
     * Computes `make()` once per message and key, and returns the same shared string to
     * every later caller: the way a group message is serialized once for all members.
     *
     * @par Thread safety
     * Safe to call concurrently; `make` runs at most once per key.
     */
    [[nodiscard]] std::shared_ptr<std::string const>
    shared_text(std::string_view key, std::function<std::string()> const& make) const;

    /** Same payload (not deep equality). */
    [[nodiscard]] bool shares_payload_with(Message const& other) const noexcept {
        return data_ == other.data_;
    }

private:
    std::shared_ptr<detail::MessageData const> data_;
};

} // namespace canal
