// Blocking WebSocket, HTTP and raw TCP clients for canal's integration tests (Beast-free header).
#pragma once

#include <chrono>
#include <cstddef>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace canal::test {

/** Time limit of one client call. */
using Timeout = std::chrono::milliseconds;

/** Default time limit of one client call. */
inline constexpr Timeout default_timeout{5000};

/** What WsClient::read() got. */
struct WsFrame {
    enum class Kind {
        text,    ///< a text message, in `data`
        binary,  ///< a binary message, in `data`
        close,   ///< the server closed: `close_code`, `close_reason`
        timeout, ///< nothing arrived in time (the read stays pending for the next call)
        error,   ///< the connection failed without a close frame: `error`
    };
    Kind kind = Kind::timeout;
    std::string data;
    int close_code = 0;
    std::string close_reason;
    std::string error;

    /** A one-line description for test messages. */
    [[nodiscard]] std::string describe() const;
};

std::ostream& operator<<(std::ostream& os, WsFrame::Kind kind);

/** Options of ws_connect(). */
struct ConnectOptions {
    /** Offered in `Sec-WebSocket-Protocol`, in order (none when empty). */
    std::vector<std::string> subprotocols;
    /** Sent as the `Origin` header when set. */
    std::optional<std::string> origin;
    /** Time allowed for TCP connect plus handshake. */
    Timeout timeout = default_timeout;
    /** SO_RCVBUF set before connecting (a small value makes a slow reader); 0 = system default. */
    int receive_buffer_size = 0;
    /** Largest message the client accepts. */
    std::size_t max_message_size = 64 * 1024 * 1024;
    /** Split outgoing messages into 4 KiB frames (Beast's client default) or send one frame each.
     */
    bool auto_fragment = false;
};

class WsClient;

/** What ws_connect() got: a client, or the HTTP answer that refused the upgrade. */
struct ConnectResult {
    /** The connected client; null when the handshake failed. */
    std::unique_ptr<WsClient> ws;
    /** 101 when accepted; the HTTP status that refused the upgrade; 0 with no HTTP answer. */
    int http_status = 0;
    /** The subprotocol the server chose (empty if none). */
    std::string subprotocol;
    /** Body of a refusing response. */
    std::string body;
    /** Why the handshake failed (empty when accepted). */
    std::string error;

    explicit operator bool() const noexcept { return ws != nullptr; }
};

/**
 * Opens a websocket to `ws://host:port<target>` and completes the handshake, all within
 * `options.timeout`. Never throws for network errors: see ConnectResult.
 */
ConnectResult ws_connect(std::string const& host, unsigned short port, std::string const& target,
                         ConnectOptions const& options = {});

/**
 * A connected websocket client. Every call is bounded by its timeout. A read that times out
 * stays pending, so no message is lost: the next read() returns it.
 *
 * @par Thread safety
 * One thread at a time.
 */
class WsClient {
public:
    struct Impl;
    explicit WsClient(std::unique_ptr<Impl> impl);
    /** Closes with a close frame when still open (bounded), then the socket. */
    ~WsClient();
    WsClient(WsClient const&) = delete;
    WsClient& operator=(WsClient const&) = delete;

    /** Sends a text message; false (see last_error()) on failure or timeout. */
    [[nodiscard]] bool send_text(std::string_view text, Timeout timeout = default_timeout);
    /** Sends a binary message; false (see last_error()) on failure or timeout. */
    [[nodiscard]] bool send_binary(std::string_view data, Timeout timeout = default_timeout);
    /** The next message, or the close, error or timeout. After a close or error, returns it again.
     */
    WsFrame read(Timeout timeout = default_timeout);
    /** Sends a close frame and waits for the server's (messages still arriving are discarded). */
    [[nodiscard]] bool close(int code = 1000, std::string_view reason = {},
                             Timeout timeout = default_timeout);
    /** Closes the TCP socket without a close frame (the peer vanishes). */
    void close_abruptly();
    /** Resets the TCP connection (RST, SO_LINGER 0) without a close frame. */
    void reset();

    /** The subprotocol the server chose. */
    [[nodiscard]] std::string const& subprotocol() const noexcept;
    /** What the last failed call reported. */
    [[nodiscard]] std::string const& last_error() const noexcept;

private:
    std::unique_ptr<Impl> impl_;
};

/** An HTTP response. */
struct HttpResponse {
    /** 0 when no response arrived (see `error`). */
    int status = 0;
    std::string content_type;
    std::string body;
    std::string error;
};

/** `GET target` over a new connection (`Connection: close`), bounded by `timeout`. */
HttpResponse http_get(std::string const& host, unsigned short port, std::string const& target,
                      Timeout timeout = default_timeout);

/** A frame read by RawTcp::read_frame(). */
struct RawFrame {
    /** The opcode (1 text, 2 binary, 8 close, 9 ping, 10 pong); -1 on timeout or end of stream. */
    int opcode = -1;
    bool fin = true;
    std::string payload;
    /** Close code of a close frame (1005 when it has none). */
    [[nodiscard]] int close_code() const noexcept;
};

/**
 * A raw TCP connection for what a well-behaved client would not do: handshake garbage,
 * hand-made (possibly invalid) websocket frames, abrupt endings.
 */
class RawTcp {
public:
    struct Impl;
    /** Connects within `timeout`; throws std::runtime_error on failure. */
    RawTcp(std::string const& host, unsigned short port, Timeout timeout = default_timeout);
    ~RawTcp();
    RawTcp(RawTcp const&) = delete;
    RawTcp& operator=(RawTcp const&) = delete;

    /** Writes all of `bytes`; false on failure or timeout. */
    [[nodiscard]] bool send(std::string_view bytes, Timeout timeout = default_timeout);
    /** Whatever arrives next (at least one byte); empty on timeout or end of stream. */
    std::string read_some(Timeout timeout = default_timeout);
    /** Everything until the peer closes (or `timeout` passes). */
    std::string read_until_close(Timeout timeout = default_timeout);
    /** True once the peer closed its side (read_some() saw end of stream or an error). */
    [[nodiscard]] bool peer_closed() const noexcept;

    /**
     * Sends a websocket upgrade request for `target` (with `key` as Sec-WebSocket-Key, and
     * `also` in the same write right after it: first frames) and reads the response head.
     * `headers` are more header lines (each ending in CRLF).
     * @return the HTTP status (101 on success), 0 when no response arrived.
     */
    int websocket_handshake(std::string const& target, Timeout timeout = default_timeout,
                            std::string_view also = {},
                            std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==",
                            std::string_view headers = {});
    /** A masked client frame as bytes (what send_frame() writes). */
    static std::string client_frame(int opcode, std::string_view payload, bool fin = true);
    /** Sends one masked client frame as is (no validation: the payload may be invalid). */
    [[nodiscard]] bool send_frame(int opcode, std::string_view payload, bool fin = true,
                                  Timeout timeout = default_timeout);
    /** Reads one server frame (after websocket_handshake()). */
    RawFrame read_frame(Timeout timeout = default_timeout);

    /** Closes the socket (FIN) without any websocket close frame. */
    void close();
    /** Resets the connection (RST, SO_LINGER 0). */
    void reset();

private:
    std::unique_ptr<Impl> impl_;
};

} // namespace canal::test
