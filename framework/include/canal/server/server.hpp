// Server: the HTTP/1.1 + WebSocket server that runs one application instance per connection.
#pragma once

#include <canal/core/application.hpp>
#include <canal/server/settings.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace canal {

/**
 * An HTTP/1.1 and WebSocket server (daphne's role) on a pool of I/O threads.
 *
 * Each connection gets a strand, a scope and one application instance. Websocket
 * connections have one writer and a bounded outbound queue (Settings::outbound_queue_limit).
 *
 * @par Thread safety
 * start(), stop() and wait() from one controlling thread; the counters from any thread.
 */
class Server {
public:
    /** A server for `app`; nothing happens until start(). */
    Server(Application app, Settings settings);
    ~Server();
    Server(Server const&) = delete;
    Server& operator=(Server const&) = delete;

    /** Binds, listens and starts the I/O threads. Throws system_error naming the address. */
    void start();
    /** The TCP port listened on (useful with port 0); 0 on a unix socket. */
    [[nodiscard]] unsigned short port() const noexcept;
    /**
     * Where the server listens, once started: `http://127.0.0.1:8000/` (`https://` with
     * TLS), `unix:/run/canal.sock`, or `fd 3`.
     */
    [[nodiscard]] std::string address() const;
    /**
     * Graceful stop: no new connections, open websockets closed with 1001, connections
     * given Settings::shutdown_timeout to finish, then the I/O threads end.
     */
    void stop();
    /** Blocks until the I/O threads have ended. */
    void wait();

    /** Open connections right now. */
    [[nodiscard]] std::size_t connection_count() const noexcept;
    /** Messages dropped under OverflowPolicy::drop, since start. */
    [[nodiscard]] std::size_t dropped_messages() const noexcept;

    /** Connections closed with 1008 because their outbound queue was full, since start. */
    [[nodiscard]] std::size_t overflow_closes() const noexcept;

    /** The port of the metrics listener (Settings::metrics), once started; 0 without one. */
    [[nodiscard]] unsigned short metrics_port() const noexcept;

    /** What `GET /metrics` answers: the counters in Prometheus' text format (version 0.0.4). */
    [[nodiscard]] std::string metrics_text() const;

    /**
     * Empty while the server is healthy; else why not (a channel layer cannot reach its
     * Redis, the server is stopping): what `GET /health` answers with 503.
     */
    [[nodiscard]] std::string health_problem() const;

    /** The settings in force (with the layer that run() may have filled in). */
    [[nodiscard]] Settings const& settings() const noexcept;

    /** Implementation detail (shared with the connection code). */
    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

/**
 * Runs `app` until SIGINT, SIGTERM or SIGHUP, then stops gracefully. When
 * `settings.channel_layer` is null, builds the layer `settings.layer` names (in-memory by
 * default, Redis for `redis://` URLs). Prints the listening address. The three signals are
 * blocked in the calling thread (and so in every thread the server starts) and taken with
 * sigwait(); threads the program started before calling run() should block them too.
 * @return the process exit code: 0 after a clean stop, 1 when the server could not start
 * (e.g. Redis unreachable: the message names Redis and the address), 2 when a setting is
 * out of its range (Settings::validate()).
 */
int run(Application app, Settings settings);

} // namespace canal
