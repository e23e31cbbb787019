// Asio aliases shared by every part of canal: the awaitable type and the completion tokens.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace canal {

namespace net = boost::asio;

/** The coroutine type of every canal handler: an Asio awaitable on `any_io_executor`. */
template <typename T = void>
using awaitable = net::awaitable<T, net::any_io_executor>;

/** Completion token that throws on error. */
inline constexpr auto use_awaitable = net::use_awaitable_t<net::any_io_executor>{};

/** Completion token that returns `std::tuple<error_code, ...>` instead of throwing. */
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable_t<net::any_io_executor>{});

} // namespace canal
