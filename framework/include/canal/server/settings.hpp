// Settings: what canal::run() and Server are configured with (flags or code).
#pragma once

#include <canal/core/errors.hpp>
#include <canal/core/log.hpp>
#include <canal/core/scope.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace canal {

class ChannelLayer;
struct LayerSettings;

/** What happens when a connection's outbound queue is full (the client reads too slowly). */
enum class OverflowPolicy {
    close, ///< close the connection with 1008 (policy violation); the default
    drop,  ///< drop the new message and count it (Server::dropped_messages())
};

/**
 * A setting (or its command-line flag) outside its range. The message names the setting,
 * its flag and the range, e.g. `--max-message-size must be between 1 and 1073741824 (bytes),
 * not '0'`.
 */
class InvalidSetting : public Error {
public:
    using Error::Error;
};

/**
 * Server settings with their defaults.
 *
 * Every number has a range, checked by validate(): Settings::from_args() and canal::run()
 * refuse values outside it (exit status 2). The ranges are in each field's comment.
 */
struct Settings {
    /** Address to listen on (TCP). */
    std::string host = "127.0.0.1";
    /** Port to listen on; 0 picks a free port (see Server::port()). */
    unsigned short port = 8000;
    /**
     * `--unix-socket PATH`: listen on a unix-domain socket instead of host and port (daphne's
     * `-u`). A socket file left by a dead process is replaced; a live one, or another file,
     * is refused. The file is removed at stop.
     */
    std::string unix_socket;
    /** `--unix-socket-mode`: the socket file's permissions (octal, e.g. 660); 0 leaves the umask's. */
    unsigned unix_socket_mode = 0;
    /**
     * `--fd N`: serve on an inherited descriptor that is already bound and listening (TCP or
     * unix; systemd's socket activation passes 3), instead of host and port. -1: none.
     */
    int fd = -1;
    /**
     * `--tls-cert FILE` and `--tls-key FILE` (PEM): speak TLS (https, wss) with this
     * certificate chain and private key. Both or neither.
     */
    std::string tls_cert;
    /** `--tls-key FILE` (PEM): the private key matching tls_cert. */
    std::string tls_key;
    /** `--server-name`: the Server header of every response; empty: no Server header. */
    std::string server_name = "canal";
    /** I/O threads; 0 means one per core. Range 0..1024. */
    unsigned threads = 0;
    /** Largest websocket message accepted; larger closes with 1009. Range 1 B..1 GiB. */
    std::size_t max_message_size = 1024 * 1024;
    /** Largest HTTP request body accepted; larger answers 413. Range 1 B..1 GiB. */
    std::size_t max_body_size = 1024 * 1024;
    /**
     * `--websocket-connect-timeout` (daphne's name; seconds): time allowed for reading a
     * request's head, the TLS handshake, and the websocket handshake (including connect()).
     * Range 1 ms..1 h.
     */
    std::chrono::milliseconds handshake_timeout = std::chrono::seconds(5);
    /**
     * `--ping-interval` (seconds): a websocket client silent this long is pinged (daphne: 20 s).
     * Range 1 ms..24 h.
     */
    std::chrono::milliseconds ping_interval = std::chrono::seconds(20);
    /**
     * `--ping-timeout` (seconds): a client that sends nothing, not even the pong, this long
     * after the ping is dropped (daphne: 30 s). Range 1 ms..24 h.
     */
    std::chrono::milliseconds ping_timeout = std::chrono::seconds(30);
    /**
     * `--websocket-timeout` (seconds): the longest a websocket may stay open; it is then
     * closed with 1001. 0, the default, means no limit (daphne's default is 86400).
     * Range 0..30 days.
     */
    std::chrono::milliseconds websocket_timeout{0};
    /**
     * `--application-close-timeout` (seconds): how long an application may take to finish
     * after its websocket disconnected before it is abandoned (logged) (daphne: 10 s).
     * Range 0..1 h.
     */
    std::chrono::milliseconds application_close_timeout = std::chrono::seconds(10);
    /**
     * `--http-timeout` (seconds): how long an HTTP application may take to start its
     * response: past it the client gets 503 (or, when the response has started, the
     * connection is closed) and the application's sends throw RequestAborted. 0, the
     * default, means no limit (as daphne; server-sent events need it). Range 0..24 h.
     */
    std::chrono::milliseconds http_timeout{0};
    /**
     * Messages a connection may have queued for sending that its socket has not taken.
     * The writer hands everything queued to the socket at each turn, so only a client that
     * reads too slowly fills it (a busy server does not). Range 1..1000000.
     */
    std::size_t outbound_queue_limit = 1024;
    /**
     * Bytes a connection may have queued for sending (same rule as outbound_queue_limit).
     * Range 1 B..1 GiB.
     */
    std::size_t outbound_queue_bytes = 4 * 1024 * 1024;
    /** What happens when that queue is full. */
    OverflowPolicy overflow_policy = OverflowPolicy::close;
    /** Time a graceful shutdown waits for connections to close. Range 0..1 h. */
    std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(3);
    /**
     * Connections open at once (`--max-connections`); 0, the default, means no limit.
     * Beyond the limit a new connection gets HTTP 503 at the handshake, logged at most
     * once per second. Range 0..1000000.
     */
    std::size_t max_connections = 0;
    /**
     * Connections open at once from one client address (`--max-connections-per-client`);
     * 0, the default, means no limit. Beyond the limit a new connection from that address
     * gets HTTP 503 at the handshake, logged at most once per second. Range 0..1000000.
     */
    std::size_t max_connections_per_client = 0;
    /**
     * `--proxy-headers`: believe X-Forwarded-For, X-Forwarded-Port and X-Forwarded-Proto
     * (the scope's client and scheme) from connections whose address is in
     * `trusted_proxies`; ignored from anyone else. Off by default (daphne's flag).
     */
    bool proxy_headers = false;
    /**
     * `--trusted-proxies`: the proxies' addresses or CIDR blocks (e.g. `10.0.0.0/8`);
     * loopback by default.
     */
    std::vector<std::string> trusted_proxies{"127.0.0.1", "::1"};
    /** `--root-path`: the scope's root_path (where a proxy mounts the application), e.g. `/chat`. */
    std::string root_path;
    /**
     * The channel layer put in every scope (null: none). canal::run() builds one from `layer`
     * when it is null (make_channel_layer(): in-memory by default); a Server uses what it is
     * given.
     */
    std::shared_ptr<ChannelLayer> channel_layer;
    /**
     * Named layers besides the default one (Channels' `CHANNEL_LAYERS` aliases), for
     * consumers with a `channel_layer_alias` and for get_channel_layer(scope, alias).
     * canal::run() adds the ones `layer_aliases` names.
     */
    ChannelLayers channel_layers;
    /**
     * `--layer`: `memory` (the default), or Redis URLs, several for shards. from_args() reads
     * the environment variable `CANAL_LAYER` (URLs separated by spaces or commas) when no
     * `--layer` is given, so that a Redis password need not be on the command line.
     */
    std::vector<std::string> layer;
    /**
     * `--layer-alias ALIAS=URL[,URL...]` (repeatable): a named layer canal::run() builds,
     * with the same settings as the default one (`memory`, or Redis URLs as `--layer`).
     */
    std::vector<std::pair<std::string, std::vector<std::string>>> layer_aliases;
    /**
     * `--layer-capacity`: messages a channel of the layer canal::run() builds holds before
     * a send to it throws ChannelFull (Channels' `capacity`, 100). Range 1..1000000.
     */
    std::size_t layer_capacity = 100;
    /** `--layer-expiry`: seconds an unreceived layer message lives (Channels' `expiry`, 60). Range 1..604800. */
    std::chrono::seconds layer_expiry{60};
    /** `--layer-group-expiry`: seconds a group membership lives (Channels' `group_expiry`, 86400). Range 1..2592000. */
    std::chrono::seconds layer_group_expiry{86400};
    /**
     * `--layer-presence-ttl` (seconds, decimals allowed): how long the Redis layer keeps a
     * presence entry its process no longer renews (LayerSettings::presence_ttl): a crashed
     * process's users leave their groups after it. Range 0.1..86400 s.
     */
    std::chrono::milliseconds layer_presence_ttl{30000};
    /**
     * `--layer-prefix`: the Redis layer's key prefix (channels_redis' `prefix`, `asgi`); a
     * Django project with another prefix shares its layer with canal only if they agree.
     * ASCII letters, digits, `-`, `_` and `.`.
     */
    std::string layer_prefix = "asgi";
    /**
     * `--layer-channel-capacity GLOB=N` (repeatable): per-channel capacities of the layer
     * canal::run() builds, first match wins (LayerSettings::channel_capacity).
     */
    std::vector<std::pair<std::string, std::size_t>> layer_channel_capacity;
    /**
     * `--layer-encryption-keys-file FILE`: the Redis layer's encryption keys
     * (RedisLayerSettings::symmetric_encryption_keys, channels_redis'
     * `symmetric_encryption_keys`), read from FILE: one key per line, blank lines ignored,
     * the first encrypts, all decrypt. Keys are never flag values (they would show in `ps`).
     * Empty: no encryption. validate() refuses an empty key, and keys without a Redis layer.
     */
    std::vector<std::string> layer_encryption_keys;
    /** The layer's settings named by the `layer_*` fields above (other fields: defaults). */
    [[nodiscard]] LayerSettings layer_settings() const;
    /**
     * `--access-log[=FILE]`: where the access log goes, one line per HTTP request and per
     * websocket connect, refusal and disconnect (format_access_record()): "-" for stderr, a
     * file (appended to), or empty for none (the default). Written by a thread of its own
     * through a bounded queue; lines that cannot keep up are counted and reported.
     */
    std::string access_log;
    /**
     * Receives each access record instead of the file, on the I/O thread that logs it (keep
     * it short). Takes effect with access_log empty as well.
     */
    std::function<void(AccessRecord const&)> access_log_sink;
    /**
     * `--metrics HOST:PORT`: serve `GET /metrics` (Prometheus' text format) and `GET /health`
     * (200, or 503 while a channel layer cannot reach Redis) on this address of their own,
     * never on the application's. Port 0 picks a free one (Server::metrics_port()). Empty:
     * none (the default).
     */
    std::string metrics;
    /** `--log-level` (debug, info, warning, error, off): applied by canal::run(). */
    LogLevel log_level = LogLevel::info;
    /** `--log-format` (text, json): the log's and the access log's format; applied by canal::run(). */
    LogFormat log_format = LogFormat::text;

    /**
     * Threads of the server's own handler pool (its sync consumers, and sync_to_async calls
     * made on its I/O threads). 0: the process's size (set_handler_threads()).
     * Range 0..1024.
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
     * Reads `--host`, `--port`, `--threads`, `--handler-threads`, `--layer`, `--access-log`, `--log-level` and the
     * limits, plus the application's own `extra` flags, from the command line. `--help`
     * prints usage with each number's range and exits 0; unknown or malformed flags, and
     * numbers outside their range, print an error naming the flag and its range, and exit 2.
     * The result has passed validate().
     */
    static Settings from_args(int argc, char** argv, std::vector<Flag>* extra = nullptr);

    /**
     * Checks every setting against its range (in the field comments): throws InvalidSetting
     * naming the first setting outside it, its flag and the range. For settings filled in by
     * code; canal::run() calls it and exits with status 2 when it throws.
     */
    void validate() const;
};

} // namespace canal
