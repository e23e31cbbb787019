// The server's decisions, without sockets (sans-I/O): how a request head becomes a scope,
// whether a websocket upgrade is well formed, what a client is answered when the application
// ends before accepting, which close code a read's end gets, and what a full outbound queue
// does. The sessions (ws_session.cpp, http_session.cpp) and the communicators call these;
// tests/server exercises them without a socket.
#pragma once

#include <canal/core/scope.hpp>
#include <canal/server/settings.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace canal::detail {

/** What the server knows of a request before the application runs. */
struct RequestHead {
    /** `"http"` or `"websocket"`. */
    std::string_view type;
    /** True over TLS (`https` / `wss`). */
    bool secure = false;
    /** The request method (`GET`...). */
    std::string_view method;
    /** The request target as sent (origin-form: path and query). */
    std::string_view target;
    /** Header names as sent (lowered here), values as sent, in order. */
    Headers headers;
    /** Peer and local addresses, when known. */
    std::optional<Endpoint> client;
    std::optional<Endpoint> server;
};

/**
 * The scope of a request: path percent-decoded, raw path and query as sent, header names
 * lower-cased, subprotocols split. nullopt when the target is not an origin-form (`/...`).
 */
std::optional<Scope> build_scope(RequestHead head);

/**
 * The items of a comma-separated header value (RFC 7230's #token, read by Beast's
 * http::opt_token_list): trimmed, empties skipped; nothing when the list is malformed.
 */
std::vector<std::string> split_header_list(std::string_view value);

/** A plain-text HTTP answer given instead of running or upgrading. */
struct Refusal {
    int status = 400;
    std::string body;
};

/** True when `key` is the base64 encoding of 16 bytes (RFC 6455 section 4.2.1). */
bool is_valid_websocket_key(std::string_view key);

/** A websocket upgrade's own checks (RFC 6455 4.2.1): the refusal when malformed. */
std::optional<Refusal> check_upgrade(Scope const& scope);

/** A close code a peer may send (RFC 6455 section 7.4): 1000-1003, 1007-1014, 3000-4999. */
bool is_valid_close_code(int code);

/** What the client is told when the application ended before accepting or closing. */
struct EarlyEnd {
    Refusal answer;
    /** The log line (empty: nothing to log); error_level for failures, else warning. */
    std::string log;
    bool error_level = false;
};

/**
 * The answer for an application that returned (error null) or threw before the handshake
 * was answered: 403 for a plain return, 404 for RouteNotFound, 500 otherwise. `what` names
 * the connection in the log line.
 */
EarlyEnd answer_early_end(std::exception_ptr const& error, std::string_view what);

/** How a websocket's read side ended. */
enum class ReadEnd {
    peer_closed,    ///< a close frame arrived (its code: peer_code, 0 for none)
    too_big,        ///< a message over the size limit
    bad_utf8,       ///< a text message that is not UTF-8
    bad_close_code, ///< a close frame whose code RFC 6455 does not allow
    protocol_error, ///< a frame RFC 6455 does not allow (unmasked, bad opcode...)
    server_closing, ///< the server was closing (its code: closing_code)
    broken,         ///< the socket ended without a close frame
};

/** The code the application's disconnect event carries for a read's end. */
int disconnect_code(ReadEnd end, int peer_code, int closing_code);

/** A header an application may write: its name an HTTP token, its value free of CR, LF, NUL. */
bool valid_response_header(std::string_view name, std::string_view value);

/** What a send does to a websocket whose socket has not taken `frames` / `bytes` yet. */
enum class SendAction {
    queue, ///< room: queue it
    drop,  ///< full, OverflowPolicy::drop: drop and count it
    close, ///< full, OverflowPolicy::close: close the connection with 1008
};
SendAction on_send(std::size_t frames, std::size_t bytes, Settings const& settings);

/** A close reason cut to what a close frame carries (123 bytes), on a UTF-8 boundary. */
std::string close_reason(std::string reason);

} // namespace canal::detail
