// Fuzz target: an HTTP request head, as a client sends it, through Beast's parser and the
// server's sans-I/O core (build_scope, check_upgrade): what every request meets first.
#include "server/server_impl.hpp"
#include "server/session_core.hpp"

#include "fuzz_input.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    parser.eager(false);
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(data, size), ec);
    if (ec || !parser.is_header_done()) {
        return 0;
    }
    auto const& req = parser.get();
    bool const websocket = boost::beast::websocket::is_upgrade(req);
    auto head = canal::detail::request_head(websocket ? "websocket" : "http", req);
    auto const scope = canal::detail::build_scope(std::move(head));
    if (!scope) {
        return 0;
    }
    if (scope->path.empty() || scope->path[0] != '/' || scope->raw_path.empty() ||
        scope->raw_path[0] != '/') {
        canal::fuzz::broken("a scope's path and raw path start with '/'");
    }
    for (auto const& [name, value] : scope->headers) {
        for (char c : name) {
            if (c >= 'A' && c <= 'Z') {
                canal::fuzz::broken("header names in a scope are lower case");
            }
        }
    }
    if (websocket) {
        auto refusal = canal::detail::check_upgrade(*scope);
        auto const* key = scope->header("sec-websocket-key");
        if (!refusal && (key == nullptr || key->size() < 24)) {
            canal::fuzz::broken("an upgrade without a 24-character key was let through");
        }
        for (auto const& p : scope->subprotocols) {
            if (p.empty() || p.find(',') != std::string::npos) {
                canal::fuzz::broken("a subprotocol is empty or holds a comma");
            }
        }
    } else if (scope->method.empty()) {
        canal::fuzz::broken("an http scope has a method");
    }
    return 0;
}
