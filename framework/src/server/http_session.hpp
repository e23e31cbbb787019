// One HTTP request and its response, streamed both ways: the application reads the body in
// parts (HttpRequest with more_body), and each HttpResponseBody it sends is written as it
// comes (chunked when the length is not known), so server-sent events and long-poll work.
// A client that goes away mid-response is reported as HttpDisconnect.
#pragma once

#include "server/server_impl.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <memory>

namespace canal::detail {

/**
 * Runs the application for the request whose head `parser` has read, writes its response,
 * and returns true when the connection may carry another request. `client`: the peer's
 * address, as accept() gave it.
 */
awaitable<bool> serve_http(std::shared_ptr<Server::Impl> server, Stream& stream,
                           boost::beast::flat_buffer& buffer,
                           boost::beast::http::request_parser<boost::beast::http::empty_body>& head,
                           std::optional<Endpoint> const& client);

} // namespace canal::detail
