// Settings::from_args and Settings::validate: the command-line flags shared by every canal
// server, and the range of every number in Settings.
#include <canal/server/settings.hpp>

#include <canal/layers/channel_layer.hpp>

#include "server/proxy_headers.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace canal {

namespace po = boost::program_options;

namespace {

constexpr std::uint64_t gib = 1024ULL * 1024 * 1024;
constexpr std::uint64_t hour_ms = 60ULL * 60 * 1000;

/** A number in Settings: its range, its flag, and how to read and write it. */
struct NumericSetting {
    char const* member; ///< the field of Settings
    char const* flag;   ///< the command-line flag, or "" when there is none
    char const* unit;   ///< what the number counts, or ""
    char const* help;   ///< the flag's line in --help
    std::uint64_t min;
    std::uint64_t max;
    std::uint64_t (*get)(Settings const&);
    void (*set)(Settings&, std::uint64_t);
    std::string (*show)(Settings const&);
    /** A duration in ms whose flag is given in seconds (decimals allowed), as daphne's are. */
    bool seconds_flag = false;
};

template <auto Member> std::uint64_t get_number(Settings const& s) {
    auto const& v = s.*Member;
    if constexpr (requires { v.count(); }) {
        // A negative duration reads as a huge number: outside every range.
        return static_cast<std::uint64_t>(v.count());
    } else {
        return static_cast<std::uint64_t>(v);
    }
}

template <auto Member> void set_number(Settings& s, std::uint64_t n) {
    auto& v = s.*Member;
    if constexpr (requires { v.count(); }) {
        v = std::remove_reference_t<decltype(v)>(static_cast<std::int64_t>(n));
    } else {
        v = static_cast<std::remove_reference_t<decltype(v)>>(n);
    }
}

template <auto Member> std::string show_number(Settings const& s) {
    auto const& v = s.*Member;
    if constexpr (requires { v.count(); }) {
        return std::to_string(v.count());
    } else {
        return std::to_string(v);
    }
}

#define CANAL_NUMERIC(member, flag, unit, help, min, max)                                       \
    NumericSetting {                                                                            \
        #member, flag, unit, help, min, max, &get_number<&Settings::member>,                    \
            &set_number<&Settings::member>, &show_number<&Settings::member>                     \
    }
// A duration (milliseconds in Settings) with a flag in seconds.
#define CANAL_SECONDS(member, flag, help, min, max)                                             \
    NumericSetting {                                                                            \
        #member, flag, "ms", help, min, max, &get_number<&Settings::member>,                    \
            &set_number<&Settings::member>, &show_number<&Settings::member>, true               \
    }

// The ranges documented in settings.hpp: keep the two in step.
std::array const numeric_settings{
    CANAL_NUMERIC(port, "port", "", "port to listen on (0: any free port)", 0, 65535),
    CANAL_NUMERIC(threads, "threads", "", "I/O threads (0: one per core)", 0, 1024),
    CANAL_NUMERIC(handler_threads, "handler-threads", "",
                  "threads for sync consumers and sync_to_async (0: twice the cores, at least 4)",
                  0, 1024),
    CANAL_NUMERIC(max_message_size, "max-message-size", "bytes",
                  "largest websocket message in bytes (larger: close 1009)", 1, gib),
    CANAL_NUMERIC(max_body_size, "", "bytes", "", 1, gib),
    CANAL_NUMERIC(outbound_queue_limit, "outbound-queue", "messages",
                  "messages queued per connection before the overflow policy applies", 1,
                  1000000),
    CANAL_NUMERIC(outbound_queue_bytes, "outbound-queue-bytes", "bytes",
                  "bytes queued per connection before the overflow policy applies", 1, gib),
    CANAL_NUMERIC(max_connections, "max-connections", "",
                  "connections open at once (0: no limit; beyond it: HTTP 503)", 0, 1000000),
    CANAL_NUMERIC(max_connections_per_client, "max-connections-per-client", "",
                  "connections open at once from one client address (0: no limit; beyond "
                  "it: HTTP 503)",
                  0, 1000000),
    CANAL_NUMERIC(layer_capacity, "layer-capacity", "messages",
                  "messages a channel of the layer holds before sends to it fail (ChannelFull)",
                  1, 1000000),
    CANAL_NUMERIC(layer_expiry, "layer-expiry", "s",
                  "seconds an unreceived layer message is kept", 1, 7 * 86400),
    CANAL_NUMERIC(layer_group_expiry, "layer-group-expiry", "s",
                  "seconds a group membership lasts unless renewed", 1, 30 * 86400),
    CANAL_SECONDS(layer_presence_ttl, "layer-presence-ttl",
                  "seconds the Redis layers keep a presence entry its process stopped renewing "
                  "(a crashed process's users leave their groups after it)",
                  100, 86400000),
    CANAL_SECONDS(handshake_timeout, "websocket-connect-timeout",
                  "seconds allowed for a request's head, the TLS handshake and the websocket "
                  "handshake (connect() included)",
                  1, hour_ms),
    CANAL_SECONDS(ping_interval, "ping-interval",
                  "seconds a websocket client may be silent before it is pinged", 1,
                  24 * hour_ms),
    CANAL_SECONDS(ping_timeout, "ping-timeout",
                  "seconds after the ping before a still silent client is dropped", 1,
                  24 * hour_ms),
    CANAL_SECONDS(websocket_timeout, "websocket-timeout",
                  "seconds a websocket may stay open before it is closed with 1001 (0: no limit)",
                  0, 30 * 24 * hour_ms),
    CANAL_SECONDS(application_close_timeout, "application-close-timeout",
                  "seconds an application may take to finish after its websocket closed", 0,
                  hour_ms),
    CANAL_SECONDS(http_timeout, "http-timeout",
                  "seconds an HTTP application may take to start its response; then 503 "
                  "(0: no limit)",
                  0, 24 * hour_ms),
    CANAL_NUMERIC(shutdown_timeout, "", "ms", "", 0, hour_ms),
};

#undef CANAL_NUMERIC
#undef CANAL_SECONDS

// Milliseconds as seconds: 20000 -> "20", 1500 -> "1.5", 1 -> "0.001".
std::string ms_as_seconds(std::uint64_t ms) {
    std::string text = std::to_string(ms / 1000);
    if (auto frac = ms % 1000; frac != 0) {
        std::string digits = std::to_string(1000 + frac).substr(1);
        while (digits.back() == '0') {
            digits.pop_back();
        }
        text += "." + digits;
    }
    return text;
}

// The range as the field's unit, or as the flag's (seconds) for a seconds flag.
std::string range_text(NumericSetting const& n, bool as_flag = false) {
    if (as_flag && n.seconds_flag) {
        return ms_as_seconds(n.min) + ".." + ms_as_seconds(n.max) + " s";
    }
    std::string text = std::to_string(n.min) + ".." + std::to_string(n.max);
    if (*n.unit != '\0') {
        text += std::string(" ") + n.unit;
    }
    return text;
}

// A flag's value as the user gives it (seconds for a seconds flag).
std::string flag_text(NumericSetting const& n, Settings const& s) {
    return n.seconds_flag ? ms_as_seconds(n.get(s)) : n.show(s);
}

/** "--threads must be in the range 0..1024, not '-1'" and the like. */
[[noreturn]] void not_in_range(NumericSetting const& n, std::string const& who,
                               std::string_view given, bool as_flag = false) {
    throw InvalidSetting(who + " must be in the range " + range_text(n, as_flag) + ", not '" +
                         std::string(given) + "'");
}

/**
 * A flag's decimal value, or nothing when it is not a number in its range. A seconds flag
 * takes decimals (`0.25`), at most to the millisecond, and gives milliseconds.
 */
std::optional<std::uint64_t> parse_in_range(NumericSetting const& n, std::string_view text) {
    std::uint64_t value = 0;
    auto const* end = text.data() + text.size();
    if (n.seconds_flag) {
        auto const dot = text.find('.');
        auto const whole = text.substr(0, dot);
        std::uint64_t ms = 0;
        if (dot != std::string_view::npos) {
            auto const frac = text.substr(dot + 1);
            if (frac.empty() || frac.size() > 3 ||
                !std::all_of(frac.begin(), frac.end(), [](char c) { return c >= '0' && c <= '9'; })) {
                return std::nullopt;
            }
            ms = std::stoull(std::string(frac) + std::string(3 - frac.size(), '0'));
        }
        auto const* wend = whole.data() + whole.size();
        auto [wptr, wec] = std::from_chars(whole.data(), wend, value);
        if (whole.empty() || wec != std::errc() || wptr != wend ||
            value > std::numeric_limits<std::uint64_t>::max() / 1000 - 1) {
            return std::nullopt;
        }
        value = value * 1000 + ms;
    } else {
        auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (text.empty() || ec != std::errc() || ptr != end) {
            return std::nullopt;
        }
    }
    if (value < n.min || value > n.max) {
        return std::nullopt;
    }
    return value;
}

/**
 * The flag an environment variable sets: CANAL_ and the flag's name in capitals, `_` for
 * `-` (CANAL_LOG_FORMAT: log-format), for flags that take a value; else "" (ignored).
 */
std::string flag_of_variable(po::options_description const& all, std::string const& variable) {
    constexpr std::string_view prefix = "CANAL_";
    if (!variable.starts_with(prefix) || variable == "CANAL_LAYER") {
        return {};
    }
    std::string name;
    for (char c : variable.substr(prefix.size())) {
        name += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    auto const* option = all.find_nothrow(name, false);
    if (option == nullptr || option->semantic()->max_tokens() == 0) {
        return {};
    }
    return name;
}

/** CANAL_LAYER's URLs (separated by spaces or commas), or none when it is unset. */
std::vector<std::string> layer_from_environment() {
    std::vector<std::string> urls;
    char const* value = std::getenv("CANAL_LAYER");
    if (value == nullptr) {
        return urls;
    }
    std::string_view rest(value);
    while (!rest.empty()) {
        auto const start = rest.find_first_not_of(" \t\n,");
        if (start == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(start);
        auto const end = rest.find_first_of(" \t\n,");
        urls.emplace_back(rest.substr(0, end));
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    }
    return urls;
}

} // namespace

void Settings::validate() const {
    for (auto const& n : numeric_settings) {
        auto const value = n.get(*this);
        if (value < n.min || value > n.max) {
            std::string name = std::string("Settings::") + n.member;
            if (*n.flag != '\0') {
                name += std::string(" (--") + n.flag + ")";
            }
            not_in_range(n, name, n.show(*this));
        }
    }
    if (tls_cert.empty() != tls_key.empty()) {
        throw InvalidSetting(tls_cert.empty()
                                 ? "Settings::tls_key (--tls-key) needs --tls-cert too"
                                 : "Settings::tls_cert (--tls-cert) needs --tls-key too");
    }
    if (fd < -1) {
        throw InvalidSetting("Settings::fd (--fd) must be a descriptor number (0 or more), not '" +
                             std::to_string(fd) + "'");
    }
    if (fd >= 0 && !unix_socket.empty()) {
        throw InvalidSetting("Settings::fd (--fd) and Settings::unix_socket (--unix-socket) "
                             "exclude each other: give one place to listen");
    }
    if (unix_socket_mode > 0777) {
        throw InvalidSetting("Settings::unix_socket_mode (--unix-socket-mode) must be at most 0777");
    }
    if (server_name.find_first_of("\r\n") != std::string::npos) {
        throw InvalidSetting("Settings::server_name (--server-name) holds a line break");
    }
    if (host.empty()) {
        throw InvalidSetting("Settings::host (--host) is empty: give an address to listen on, "
                             "e.g. 127.0.0.1");
    }
    if (overflow_policy != OverflowPolicy::close && overflow_policy != OverflowPolicy::drop) {
        throw InvalidSetting("Settings::overflow_policy (--overflow) must be close or drop");
    }
    bool const prefix_ok =
        !layer_prefix.empty() && layer_prefix.size() < 100 &&
        std::all_of(layer_prefix.begin(), layer_prefix.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' ||
                   c == '.';
        });
    if (!prefix_ok) {
        throw InvalidSetting("Settings::layer_prefix (--layer-prefix) '" + layer_prefix +
                             "' is invalid: use ASCII letters, digits, '-', '_' and '.' "
                             "(under 100 characters), as channels_redis' prefix");
    }
    (void)detail::TrustedProxies(trusted_proxies); // throws InvalidSetting naming a bad one
    if (!root_path.empty() && (root_path.front() != '/' || root_path.back() == '/')) {
        throw InvalidSetting("Settings::root_path (--root-path) '" + root_path +
                             "' must start with '/' and not end with one, e.g. /chat");
    }
    auto const check_alias = [](std::string const& alias) {
        bool const ok = !alias.empty() && alias.size() <= 100 &&
                        std::all_of(alias.begin(), alias.end(), [](char c) {
                            return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' ||
                                   c == '_' || c == '.';
                        });
        if (!ok || alias == default_layer_alias) {
            throw InvalidSetting("layer alias '" + alias +
                                 "' is invalid: use ASCII letters, digits, '-', '_' and '.', "
                                 "and not 'default' (that is --layer)");
        }
    };
    for (auto const& [alias, layer_of_alias] : channel_layers) {
        check_alias(alias);
        if (!layer_of_alias) {
            throw InvalidSetting("Settings::channel_layers['" + alias + "'] is null");
        }
    }
    for (std::size_t i = 0; i < layer_aliases.size(); ++i) {
        auto const& alias = layer_aliases[i].first;
        check_alias(alias);
        for (std::size_t j = 0; j < i; ++j) {
            if (layer_aliases[j].first == alias) {
                throw InvalidSetting("--layer-alias names '" + alias + "' twice");
            }
        }
    }
    if (std::any_of(layer_encryption_keys.begin(), layer_encryption_keys.end(),
                    [](std::string const& key) { return key.empty(); })) {
        throw InvalidSetting("Settings::layer_encryption_keys holds an empty key: give secret "
                             "text, e.g. Django's SECRET_KEY");
    }
    bool const memory_layer = layer.empty() || (layer.size() == 1 && layer.front() == "memory");
    if (!layer_encryption_keys.empty() && memory_layer && !channel_layer) {
        throw InvalidSetting("Settings::layer_encryption_keys (--layer-encryption-keys-file) "
                             "encrypt the Redis layer's messages: give --layer "
                             "redis://HOST:PORT too (the in-memory layer stores nothing "
                             "outside the process)");
    }
}

namespace {

// `GLOB=N` of --layer-channel-capacity.
std::pair<std::string, std::size_t> parse_channel_capacity(std::string const& item) {
    auto const eq = item.rfind('=');
    std::size_t n = 0;
    if (eq != std::string::npos && eq > 0 && eq + 1 < item.size()) {
        auto const digits = std::string_view(item).substr(eq + 1);
        auto const [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (ec != std::errc{} || end != digits.data() + digits.size()) {
            n = 0;
        }
    }
    if (n == 0 || n > 1000000) {
        throw po::error("--layer-channel-capacity '" + item +
                        "' is not GLOB=N with N in 1..1000000 (e.g. 'http.response!*=10')");
    }
    return {item.substr(0, eq), n};
}

// `ALIAS=URL[,URL...]` of --layer-alias (the alias itself is checked by validate()).
std::pair<std::string, std::vector<std::string>> parse_layer_alias(std::string const& item) {
    auto const eq = item.find('=');
    std::vector<std::string> urls;
    if (eq != std::string::npos) {
        std::string_view rest = std::string_view(item).substr(eq + 1);
        while (!rest.empty()) {
            auto const comma = rest.find(',');
            auto const url = rest.substr(0, comma);
            if (!url.empty()) {
                urls.emplace_back(url);
            }
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        }
    }
    if (eq == std::string::npos || eq == 0 || urls.empty()) {
        throw po::error("--layer-alias '" + item +
                        "' is not ALIAS=URL[,URL...] (e.g. 'moderation=redis://127.0.0.1:6379')");
    }
    return {item.substr(0, eq), std::move(urls)};
}

// The keys of --layer-encryption-keys-file: one per line, blank lines ignored.
std::vector<std::string> read_keys_file(std::string const& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw InvalidSetting("--layer-encryption-keys-file '" + path +
                             "' is a directory: give a file with one key per line");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw InvalidSetting("--layer-encryption-keys-file '" + path +
                             "' cannot be read: " + std::strerror(errno));
    }
    std::vector<std::string> keys;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back(); // a file written on Windows
        }
        if (line.find_first_not_of(" \t") != std::string::npos) {
            keys.push_back(std::move(line));
        }
    }
    if (in.bad()) {
        throw InvalidSetting("--layer-encryption-keys-file '" + path +
                             "' cannot be read: " + std::strerror(errno));
    }
    if (keys.empty()) {
        throw InvalidSetting("--layer-encryption-keys-file '" + path +
                             "' holds no key: write one key per line (the first encrypts, "
                             "all decrypt), e.g. Django's SECRET_KEY");
    }
    return keys;
}

} // namespace

LayerSettings Settings::layer_settings() const {
    LayerSettings l;
    l.capacity = layer_capacity;
    l.expiry = layer_expiry;
    l.group_expiry = layer_group_expiry;
    l.channel_capacity = layer_channel_capacity;
    l.presence_ttl = layer_presence_ttl;
    return l;
}

Settings Settings::from_args(int argc, char** argv, std::vector<Flag>* extra) {
    Settings s;
    std::string policy = "close";
    std::vector<std::string> channel_capacity;
    std::vector<std::string> aliases;
    std::vector<std::string> trusted;
    std::string keys_file;
    // Numbers are read as text and checked here: Boost.ProgramOptions reads "-1" into an
    // unsigned as 4294967295.
    std::vector<std::string> numbers;
    numbers.reserve(numeric_settings.size());
    for (auto const& n : numeric_settings) {
        numbers.push_back(flag_text(n, s));
    }
    std::string socket_mode;
    std::string level = "info";
    std::string format = "text";
    po::options_description opts("canal server options");
    opts.add_options()("help,h", "print this help and exit")(
        "version", "print canal's version and exit")(
        "host", po::value(&s.host)->default_value(s.host), "address to listen on")(
        "unix-socket", po::value(&s.unix_socket),
        "listen on this unix-domain socket instead of --host and --port")(
        "unix-socket-mode", po::value(&socket_mode),
        "permissions of the --unix-socket file, in octal (e.g. 660; default: the umask's)")(
        "fd", po::value(&s.fd),
        "serve on this inherited descriptor, already bound and listening (systemd's socket "
        "activation passes 3), instead of --host and --port")(
        "tls-cert", po::value(&s.tls_cert),
        "serve TLS (https, wss) with this PEM certificate chain (with --tls-key)")(
        "tls-key", po::value(&s.tls_key), "the PEM private key of --tls-cert")(
        "server-name", po::value(&s.server_name)->default_value(s.server_name),
        "the Server header of responses (empty: none)");
    for (std::size_t i = 0; i < numeric_settings.size(); ++i) {
        auto const& n = numeric_settings[i];
        if (*n.flag != '\0') {
            auto const help = std::string(n.help) + " [" + range_text(n, true) + "]"; // copied by po
            opts.add_options()(n.flag, po::value(&numbers[i])->default_value(numbers[i]),
                               help.c_str());
        }
    }
    opts.add_options()("overflow", po::value(&policy)->default_value(policy),
                       "when a client reads too slowly: close (1008) or drop")(
        "access-log", po::value(&s.access_log)->implicit_value("-"),
        "log each request and websocket connection: to stderr, or with =FILE to a file")(
        "metrics", po::value(&s.metrics),
        "serve GET /metrics (Prometheus) and GET /health on this HOST:PORT of their own, "
        "e.g. 127.0.0.1:9100")(
        "log-level", po::value(&level)->default_value(level),
        "the least important lines logged: debug, info, warning, error or off")(
        "log-format", po::value(&format)->default_value(format),
        "text, or json (one object per line) for the log and the access log")(
        "proxy-headers", po::bool_switch(&s.proxy_headers),
        "take the client's address, port and scheme from X-Forwarded-For, -Port and -Proto "
        "when the connection comes from a trusted proxy")(
        "trusted-proxies", po::value(&trusted)->composing(),
        "addresses or CIDR blocks of the proxies --proxy-headers believes, separated by "
        "commas (default: 127.0.0.1,::1)")(
        "root-path", po::value(&s.root_path)->default_value(s.root_path),
        "the scope's root_path: where a proxy mounts the application, e.g. /chat")(
        "layer", po::value(&s.layer)->composing(),
        "channel layer: memory (the default), or redis://HOST[:PORT][/DB] with "
        "[[USER]:PASSWORD@] before HOST if need be (rediss:// for TLS, "
        "?ssl_ca_certs=FILE to check the server against); repeat for shards; "
        "redis+pubsub://... for Redis pub/sub (channels_redis.pubsub). Without it, "
        "the environment variable CANAL_LAYER (URLs separated by spaces or commas) keeps "
        "passwords out of the process list")(
        "layer-prefix", po::value(&s.layer_prefix)->default_value(s.layer_prefix),
        "the Redis layer's key prefix (channels_redis' prefix)")(
        "layer-channel-capacity", po::value(&channel_capacity)->composing(),
        "GLOB=N: channels whose name matches GLOB (*, ?, [...]) hold N messages instead of "
        "--layer-capacity; repeat it, the first match wins (Channels' channel_capacity)")(
        "layer-alias", po::value(&aliases)->composing(),
        "ALIAS=URL[,URL...]: another, named channel layer (memory or redis:// URLs) for "
        "consumers with that channel_layer_alias; repeat for more")(
        "layer-encryption-keys-file", po::value(&keys_file),
        "a file of keys that encrypt the Redis layer's messages (channels_redis' "
        "symmetric_encryption_keys): one per line, the first encrypts, all decrypt");
    // --help lists the application's own flags apart from the server's.
    std::string const program =
        argc > 0 ? std::filesystem::path(argv[0]).filename().string() : std::string("application");
    po::options_description app_opts(program + " options");
    if (extra != nullptr) {
        for (auto& flag : *extra) {
            app_opts.add_options()(flag.name.c_str(),
                                   po::value(&flag.value)->default_value(flag.value),
                                   flag.help.c_str());
        }
    }
    po::options_description all;
    all.add(opts);
    if (extra != nullptr && !extra->empty()) {
        all.add(app_opts);
    }
    po::variables_map vm;
    try {
        auto parsed = po::command_line_parser(argc, argv).options(all).allow_unregistered().run();
        po::store(parsed, vm);
        // Then the environment: CANAL_SESSIONS for --sessions, CANAL_LOG_FORMAT for
        // --log-format (flags that take a value), so that URLs with passwords stay out of
        // the process list. The command line wins. CANAL_LAYER is read apart (several URLs).
        po::store(po::parse_environment(all, [&all](std::string const& variable) {
                      return flag_of_variable(all, variable);
                  }),
                  vm);
        po::notify(vm);
        for (auto const& opt : parsed.options) {
            if (opt.position_key >= 0) {
                throw po::error("unexpected argument '" +
                                (opt.value.empty() ? std::string() : opt.value.front()) +
                                "': every setting is a --flag");
            }
            if (opt.unregistered) {
                throw po::error("unknown option '" + opt.string_key + "'");
            }
        }
        for (std::size_t i = 0; i < numeric_settings.size(); ++i) {
            auto const& n = numeric_settings[i];
            if (*n.flag == '\0') {
                continue;
            }
            auto value = parse_in_range(n, numbers[i]);
            if (!value) {
                not_in_range(n, std::string("--") + n.flag, numbers[i], true);
            }
            n.set(s, *value);
        }
        if (s.layer.empty()) {
            s.layer = layer_from_environment();
        }
        if (!trusted.empty()) {
            s.trusted_proxies.clear();
            for (auto const& item : trusted) {
                std::string_view rest = item;
                while (!rest.empty()) {
                    auto const comma = rest.find(',');
                    if (comma != 0) {
                        s.trusted_proxies.emplace_back(rest.substr(0, comma));
                    }
                    rest = comma == std::string_view::npos ? std::string_view{}
                                                           : rest.substr(comma + 1);
                }
            }
        }
        for (auto const& item : aliases) {
            s.layer_aliases.push_back(parse_layer_alias(item));
        }
        for (auto const& item : channel_capacity) {
            s.layer_channel_capacity.push_back(parse_channel_capacity(item));
        }
        if (vm.count("layer-encryption-keys-file") != 0U) {
            s.layer_encryption_keys = read_keys_file(keys_file);
        }
        if (vm.count("unix-socket-mode") != 0U) {
            unsigned mode = 0;
            auto const* end = socket_mode.data() + socket_mode.size();
            auto [ptr, ec] = std::from_chars(socket_mode.data(), end, mode, 8);
            if (socket_mode.empty() || ec != std::errc() || ptr != end || mode == 0 || mode > 0777) {
                throw InvalidSetting("--unix-socket-mode must be octal permissions such as 660 "
                                     "(1..777), not '" + socket_mode + "'");
            }
            s.unix_socket_mode = mode;
        }
        if (policy != "close" && policy != "drop") {
            throw po::error("--overflow must be 'close' or 'drop', not '" + policy + "'");
        }
        s.overflow_policy = policy == "drop" ? OverflowPolicy::drop : OverflowPolicy::close;
        auto const parsed_level = parse_log_level(level);
        if (!parsed_level) {
            throw po::error("--log-level must be debug, info, warning, error or off, not '" +
                            level + "'");
        }
        s.log_level = *parsed_level;
        if (format != "text" && format != "json") {
            throw po::error("--log-format must be 'text' or 'json', not '" + format + "'");
        }
        s.log_format = format == "json" ? LogFormat::json : LogFormat::text;
        s.validate();
    } catch (po::error const& e) {
        std::cerr << argv[0] << ": " << e.what() << "\n" << all;
        std::exit(2);
    } catch (InvalidSetting const& e) {
        std::cerr << argv[0] << ": " << e.what() << "\n";
        std::exit(2);
    }
    if (vm.count("version") != 0U) {
        std::cout << "canal " << CANAL_VERSION_TEXT << "\n";
        std::exit(0);
    }
    if (vm.count("help") != 0U) {
        std::cout << all;
        std::exit(0);
    }
    return s;
}

} // namespace canal
