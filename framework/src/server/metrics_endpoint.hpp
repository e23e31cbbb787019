// The metrics listener (Settings::metrics): `GET /metrics` in Prometheus' text format and
// `GET /health`, on an address of its own so that they are never served with the
// application by accident.
#pragma once

#include "server/server_impl.hpp"

#include <memory>
#include <string>

namespace canal::detail {

/** The server's metrics in Prometheus' text exposition format (version 0.0.4). */
std::string metrics_text(Server::Impl& server);

/** Why the server is not healthy (a channel layer cannot reach its servers), or empty. */
std::string health_problem(Server::Impl& server);

/** Splits `--metrics HOST:PORT` (`[::1]:9100` for IPv6); throws InvalidSetting. */
std::pair<std::string, unsigned short> parse_metrics_address(std::string const& text);

/** Accepts and answers metrics requests on `server.metrics_acceptor` until it is closed. */
awaitable<void> metrics_accept_loop(std::shared_ptr<Server::Impl> server);

} // namespace canal::detail
