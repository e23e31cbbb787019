// Helpers for tests of channel layers: a receive with a time limit, and a presence meta.
#pragma once

#include <canal/core/message.hpp>
#include <canal/core/net.hpp>
#include <canal/layers/channel_layer.hpp>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <variant>

namespace canal::test {

/** The next message on `channel` within `limit`, or nothing (the receive is cancelled). */
inline awaitable<std::optional<Message>> receive_within(ChannelLayer& layer, std::string channel,
                                                        std::chrono::milliseconds limit) {
    using namespace boost::asio::experimental::awaitable_operators;
    net::steady_timer timer(co_await net::this_coro::executor, limit);
    auto got = co_await (layer.receive(std::move(channel)) ||
                         timer.async_wait(net::use_awaitable));
    if (got.index() == 0) {
        co_return std::get<0>(std::move(got));
    }
    co_return std::nullopt;
}

/** `{"username": name}`: what the presence tests track. */
inline boost::json::object meta_of(std::string name) {
    boost::json::object o;
    o["username"] = std::move(name);
    return o;
}

} // namespace canal::test
