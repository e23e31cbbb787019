// Scope: what an application instance knows about its connection (ASGI's scope, typed).
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace canal {

class ChannelLayer;
class Session;
struct User;

/**
 * Named channel layers (Channels' `CHANNEL_LAYERS` aliases): alias → layer. The layer of the
 * alias "default" is also `Scope::channel_layer`.
 */
using ChannelLayers = std::map<std::string, std::shared_ptr<ChannelLayer>, std::less<>>;

/** Kwargs and positional args captured by the URL router (`scope["url_route"]` in Channels). */
struct UrlRoute {
    /**
     * Named captures, as text: `path("chat/<str:room_name>/")` gives `kwargs["room_name"]`,
     * and `<int:id>` on `/items/007/` gives `kwargs["id"] == "007"`.
     */
    std::map<std::string, std::string, std::less<>> kwargs;
    /**
     * The same captures as their converters' values (Channels' kwargs): `<int:id>` gives an
     * integer (`typed_kwargs.at("id").as_int64() == 7`), a registered converter whatever
     * its `to_python` returns, and the others (and re_path() groups) strings.
     */
    std::map<std::string, boost::json::value, std::less<>> typed_kwargs;
    /** Unnamed captures of `re_path`, in order. */
    std::vector<std::string> args;
};

/** A host and port pair (`scope["client"]`, `scope["server"]`). */
struct Endpoint {
    /** The IP address, as text. */
    std::string host;
    /** The TCP port. */
    unsigned short port = 0;
};

/** HTTP headers as received: lower-case names, in order, repeats kept. */
using Headers = std::vector<std::pair<std::string, std::string>>;

/**
 * What the server reports of a websocket's outbound side: what was sent to the client and
 * not yet taken by its socket (uWebSockets' and the browser's `bufferedAmount`).
 *
 * @par Thread safety
 * Written by the connection's strand, readable from any thread.
 */
struct OutboundQueue {
    /** Bytes queued for the client (frame headers included). */
    std::atomic<std::size_t> bytes{0};
    /** Application frames queued for the client. */
    std::atomic<std::size_t> frames{0};
    /** The server's limit on queued bytes (`--outbound-queue-bytes`; 0: none known). */
    std::size_t byte_limit = 0;
};

/**
 * The connection scope handed to an application.
 *
 * Middleware changes a copy and passes it on; the application owns its copy for the
 * whole connection.
 */
struct Scope {
    /** `"websocket"`, `"http"`, or `"channel"` for a worker's application (run_worker()). */
    std::string type;
    /** For a `"channel"` scope: the channel whose messages the application receives. */
    std::string channel;
    /** `"ws"`, `"wss"`, `"http"` or `"https"`. */
    std::string scheme;
    /** HTTP method for `http` scopes (`"GET"`...), empty for websockets. */
    std::string method;
    /** Percent-decoded path, starting with `/`. */
    std::string path;
    /** The path as sent on the request line (not decoded, no query). */
    std::string raw_path;
    /** The part after `?`, not decoded. */
    std::string query_string;
    /**
     * Mount point of the application (Settings::root_path, `--root-path`): the path still
     * holds it, and URLRouter matches what follows it.
     */
    std::string root_path;
    /** Request headers, lower-case names. */
    Headers headers;
    /** Subprotocols offered by the client in `Sec-WebSocket-Protocol`, in order. */
    std::vector<std::string> subprotocols;
    /** Peer address. */
    std::optional<Endpoint> client;
    /** Local address. */
    std::optional<Endpoint> server;
    /** Filled by URLRouter. */
    UrlRoute url_route;
    /** Filled by CookieMiddleware. */
    std::map<std::string, std::string, std::less<>> cookies;
    /** Filled by SessionMiddleware; shared by every copy of the scope (null without one). */
    std::shared_ptr<Session> session;
    /** Filled by AuthMiddleware: the logged-in user, or an anonymous one (null without it). */
    std::shared_ptr<User const> user;
    /** The channel layer consumers of this application use (null: no layer). */
    std::shared_ptr<ChannelLayer> channel_layer;
    /**
     * Every named layer, "default" included (Settings::channel_layers); null when the
     * application has only the default one. Read it with get_channel_layer(scope, alias).
     */
    std::shared_ptr<ChannelLayers const> channel_layers;
    /** Set by the server for websockets (null elsewhere, e.g. under a communicator). */
    std::shared_ptr<OutboundQueue const> outbound;
    /** Free-form values added by middleware or the server (ASGI `extensions`). */
    boost::json::object extensions;

    /** First header value with this (lower-case) name, or nullptr. */
    [[nodiscard]] std::string const* header(std::string_view name) const;
};

} // namespace canal
