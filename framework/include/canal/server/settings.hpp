// Settings: what canal::run() and Server are configured with (flags or code).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace canal {

class ChannelLayer;

/** What happens when a connection's outbound queue is full (the client reads too slowly). */
enum class OverflowPolicy {
    close, ///< close the connection with 1008 (policy violation); the default
    drop,  ///< drop the new message and count it (Server::dropped_messages())
};

/** Server settings with their defaults. */
struct Settings {
    /** Address to listen on. */
    std::string host = "127.0.0.1";
    /** Port to listen on; 0 picks a free port (see Server::port()). */
    unsigned short port = 8000;
    /** I/O threads; 0 means one per core. */
    unsigned threads = 0;
    /** Largest websocket message accepted; larger closes with 1009. */
    std::size_t max_message_size = 1024 * 1024;
    /** Largest HTTP request body accepted; larger answers 413. */
    std::size_t max_body_size = 1024 * 1024;
    /** Time allowed for the HTTP request and the websocket handshake (including connect()). */
    std::chrono::milliseconds handshake_timeout = std::chrono::seconds(5);
    /**
     * Keep-alive for websockets: a client silent for half of this is pinged, and one
     * silent for all of it is dropped (Beast's idle timeout with keep-alive pings).
     */
    std::chrono::milliseconds idle_timeout = std::chrono::seconds(40);
    /**
     * Messages a connection may have queued for sending that its socket has not taken.
     * The writer hands everything queued to the socket at each turn, so only a client that
     * reads too slowly fills it (a busy server does not).
     */
    std::size_t outbound_queue_limit = 1024;
    /** Bytes a connection may have queued for sending (same rule as outbound_queue_limit). */
    std::size_t outbound_queue_bytes = 4 * 1024 * 1024;
    /** What happens when that queue is full. */
    OverflowPolicy overflow_policy = OverflowPolicy::close;
    /** Time a graceful shutdown waits for connections to close. */
    std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(3);
    /**
     * The channel layer put in every scope (null: none). canal::run() builds one from `layer`
     * when it is null (make_channel_layer(): in-memory by default); a Server uses what it is
     * given.
     */
    std::shared_ptr<ChannelLayer> channel_layer;
    /** `--layer`: `memory` (the default), or Redis URLs, several for shards. */
    std::vector<std::string> layer;
    /** Log each request and websocket connection to stderr. */
    bool access_log = false;

    /**
     * Handler threads for sync consumers and sync_to_async; Server::start() applies it to
     * the process-wide pool (set_handler_threads). 0 leaves the pool as it is.
     */
    unsigned handler_threads = 0;

    /** An application's own command-line flag, read by from_args() with the server's. */
    struct Flag {
        /** Name without the leading `--`. */
        std::string name;
        /** One line for `--help`. */
        std::string help;
        /** The default on the way in, the value given on the way out. */
        std::string value;
    };

    /**
     * Reads `--host`, `--port`, `--threads`, `--handler-threads`, `--layer`, `--access-log` and the
     * limits, plus the application's own `extra` flags, from the command line. `--help`
     * prints usage and exits 0; unknown or malformed flags print an error and exit 2.
     */
    static Settings from_args(int argc, char** argv, std::vector<Flag>* extra = nullptr);
};

} // namespace canal
