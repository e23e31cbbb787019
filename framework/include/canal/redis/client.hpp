// Client: one pipelined Redis connection, coroutine-based, reconnecting by itself.
#pragma once

#include <canal/core/errors.hpp>
#include <canal/core/net.hpp>
#include <canal/redis/reply.hpp>
#include <canal/redis/url.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace canal::redis {

/** A Redis command and its arguments, e.g. `{"ZADD", key, score, member}`. */
using Command = std::vector<std::string>;

/** A Lua script run with EVALSHA, falling back to EVAL when the server answers NOSCRIPT. */
class Script {
public:
    /** Computes the script's SHA-1 once. */
    explicit Script(std::string source);
    /** The Lua source. */
    [[nodiscard]] std::string const& source() const noexcept { return source_; }
    /** The lower-case hex SHA-1 of the source, as EVALSHA wants it. */
    [[nodiscard]] std::string const& sha1() const noexcept { return sha1_; }

private:
    std::string source_;
    std::string sha1_;
};

/** Timeouts and back-off of a Client. */
struct ClientOptions {
    /** Time allowed for resolving, connecting, AUTH and SELECT. */
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(2);
    /**
     * Time a request may wait for its reply (beyond a blocking command's own timeout);
     * when it passes, the connection is presumed dead, dropped and re-established.
     */
    std::chrono::milliseconds command_timeout = std::chrono::seconds(5);
    /** First wait before reconnecting; doubles up to `max_backoff`. */
    std::chrono::milliseconds min_backoff = std::chrono::milliseconds(50);
    /** Longest wait between reconnection attempts. */
    std::chrono::milliseconds max_backoff = std::chrono::seconds(2);
};

/**
 * The server could not be reached or stopped answering (not connected, connection lost,
 * no reply within the timeout, client closed). Error replies are plain canal::Error.
 */
class ConnectionError : public Error {
public:
    using Error::Error;
};

/**
 * One connection to a Redis server that pipelines requests: many requests from many
 * coroutines share the socket, their commands are written together, and replies are
 * matched to requests in order. Replies are decoded by hiredis' RESP reader.
 *
 * After a connection is lost the client reconnects in the background with exponential
 * back-off (and sends AUTH and SELECT again); meanwhile every request fails at once with
 * canal::Error ("not connected"), so callers never hang on a dead server. Requests that
 * were in flight when the connection broke fail too (they may or may not have run).
 *
 * Blocking commands (BZPOPMIN...) hold up every request queued behind them: give them a
 * Client of their own.
 *
 * @par Thread safety
 * All member functions may be called from any thread; the connection runs on a strand of
 * its executor, and a coroutine awaiting a request resumes on its own executor.
 */
class Client {
public:
    /** A client with its own background I/O thread. Does not connect yet. */
    explicit Client(Url url, ClientOptions options = {});
    /** A client running on `ex` (on a strand of it). Does not connect yet. */
    Client(net::any_io_executor ex, Url url, ClientOptions options = {});
    /** Closes the connection; requests still pending fail. */
    ~Client();
    Client(Client const&) = delete;
    Client& operator=(Client const&) = delete;

    /**
     * Connects (AUTH and SELECT included) unless connected already.
     *
     * @throws canal::Error naming Redis, the address and the reason, when the server
     * cannot be reached within `connect_timeout` or refuses AUTH/SELECT. After a failure the
     * client keeps trying in the background.
     */
    awaitable<void> connect();

    /**
     * Sends one command and returns its reply.
     *
     * @throws canal::Error naming the address and the command, for an error reply, a lost
     * connection, no connection, or no reply within `command_timeout` (+ `extra_timeout`).
     */
    awaitable<Reply> command(Command cmd,
                             std::chrono::milliseconds extra_timeout = std::chrono::milliseconds(0));

    /**
     * Sends several commands in one write and returns their replies in order (one round
     * trip). Error replies are returned as Reply::Kind::error, not thrown.
     *
     * @throws canal::Error for connection trouble, as command().
     */
    awaitable<std::vector<Reply>> pipeline(std::vector<Command> commands);

    /**
     * Runs `script` with EVALSHA and, when the server does not know it yet (NOSCRIPT),
     * with EVAL, which also caches it.
     *
     * @throws canal::Error as command().
     */
    awaitable<Reply> eval(Script const& script, std::vector<std::string> keys,
                          std::vector<std::string> args);

    /**
     * Sets a function called on the client's strand after every successful (re)connection,
     * e.g. to restore state the server lost. It must not block.
     */
    void on_connect(std::function<void()> hook);

    /** True while the connection is up. */
    [[nodiscard]] bool connected() const noexcept;

    /** Round trips so far: one per command() or pipeline() call that was written. */
    [[nodiscard]] std::uint64_t round_trips() const noexcept;

    /** Requests that failed for want of a connection: not connected, lost, or timed out. */
    [[nodiscard]] std::uint64_t failures() const noexcept;

    /** Connections established again after the first (after a loss). */
    [[nodiscard]] std::uint64_t reconnects() const noexcept;

    /** The server's URL. */
    [[nodiscard]] Url const& url() const noexcept;

    /** Closes the connection and stops reconnecting; later requests fail. Idempotent. */
    void close();

private:
    struct Impl;
    struct OwnThread;
    std::unique_ptr<OwnThread> thread_;
    std::shared_ptr<Impl> impl_;
};

} // namespace canal::redis
