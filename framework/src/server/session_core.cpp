// The server's sans-I/O decisions (see session_core.hpp).
#include "server/session_core.hpp"

#include <canal/core/errors.hpp>

#include "detail/ascii.hpp"

#include <boost/beast/http/rfc7230.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>

namespace canal::detail {

namespace {
// HTTP's optional whitespace around a header value.
constexpr std::string_view ows = " \t";
} // namespace

std::vector<std::string> split_header_list(std::string_view value) {
    // RFC 7230's #token, as Beast reads it; a malformed list offers nothing.
    boost::beast::http::opt_token_list tokens(value);
    std::vector<std::string> items;
    if (!boost::beast::http::validate_list(tokens)) {
        return items;
    }
    for (auto token : tokens) {
        items.emplace_back(token);
    }
    return items;
}

std::optional<Scope> build_scope(RequestHead head) {
    auto parsed = boost::urls::parse_origin_form(head.target);
    if (!parsed) {
        return std::nullopt;
    }
    Scope scope;
    bool const websocket = head.type == "websocket";
    scope.type = std::string(head.type);
    scope.scheme = websocket ? (head.secure ? "wss" : "ws") : (head.secure ? "https" : "http");
    scope.path = std::string(parsed->path());
    if (scope.path.empty()) {
        scope.path = "/";
    }
    scope.raw_path = std::string(parsed->encoded_path());
    scope.query_string = std::string(parsed->encoded_query());
    if (!websocket) {
        scope.method = std::string(head.method);
    }
    scope.headers = std::move(head.headers);
    for (auto& [name, value] : scope.headers) {
        name = ascii_lower(name);
    }
    if (websocket) {
        for (auto const& [name, value] : scope.headers) {
            if (name == "sec-websocket-protocol") {
                for (auto& item : split_header_list(value)) {
                    scope.subprotocols.push_back(std::move(item));
                }
            }
        }
    }
    scope.client = std::move(head.client);
    scope.server = std::move(head.server);
    return scope;
}

bool is_valid_websocket_key(std::string_view key) {
    // 16 bytes are 22 base64 digits and "==": the last digit carries 2 bits and 4 zero bits.
    auto digit = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/';
    };
    if (key.size() != 24 || key[22] != '=' || key[23] != '=') {
        return false;
    }
    for (std::size_t i = 0; i < 21; ++i) {
        if (!digit(key[i])) {
            return false;
        }
    }
    char const last = key[21];
    return last == 'A' || last == 'Q' || last == 'g' || last == 'w';
}

std::optional<Refusal> check_upgrade(Scope const& scope) {
    auto const* key = scope.header("sec-websocket-key");
    if (key == nullptr) {
        return Refusal{400, "bad websocket handshake: no Sec-WebSocket-Key\n"};
    }
    if (!is_valid_websocket_key(trim(*key, ows))) {
        return Refusal{400, "bad websocket handshake: Sec-WebSocket-Key must be 16 bytes in "
                            "base64\n"};
    }
    auto const* version = scope.header("sec-websocket-version");
    if (version == nullptr) {
        return Refusal{400, "bad websocket handshake: no Sec-WebSocket-Version\n"};
    }
    if (trim(*version, ows) != "13") {
        return Refusal{426, "unsupported websocket version: only 13 (RFC 6455) is spoken\n"};
    }
    return std::nullopt;
}

bool is_valid_close_code(int code) {
    if (code >= 3000 && code <= 4999) {
        return true;
    }
    switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
    case 1012:
    case 1013:
    case 1014:
        return true;
    default:
        return false;
    }
}

EarlyEnd answer_early_end(std::exception_ptr const& error, std::string_view what) {
    if (!error) {
        return EarlyEnd{Refusal{403, "websocket connection refused\n"}, {}, false};
    }
    try {
        std::rethrow_exception(error);
    } catch (RouteNotFound const& e) {
        return EarlyEnd{Refusal{404, std::string(e.what()) + "\n"},
                        std::string(what) + ": 404: " + e.what(), false};
    } catch (std::exception const& e) {
        return EarlyEnd{Refusal{500, "internal server error\n"},
                        std::string(what) + ": application failed before accept, answered 500: " +
                            e.what(),
                        true};
    } catch (...) {
    }
    return EarlyEnd{Refusal{500, "internal server error\n"},
                    std::string(what) + ": application failed before accept, answered 500", true};
}

int disconnect_code(ReadEnd end, int peer_code, int closing_code) {
    switch (end) {
    case ReadEnd::peer_closed:
        return peer_code == 0 ? 1005 : peer_code;
    case ReadEnd::too_big:
        return 1009;
    case ReadEnd::bad_utf8:
        return 1007;
    case ReadEnd::bad_close_code:
    case ReadEnd::protocol_error:
        return 1002;
    case ReadEnd::server_closing:
        return closing_code;
    case ReadEnd::broken:
        break;
    }
    return 1006;
}

bool valid_response_header(std::string_view name, std::string_view value) {
    constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
    bool const token = !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
               extra.find(c) != std::string_view::npos;
    });
    return token && value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

SendAction on_send(std::size_t frames, std::size_t bytes, Settings const& settings) {
    if (frames < settings.outbound_queue_limit && bytes < settings.outbound_queue_bytes) {
        return SendAction::queue;
    }
    return settings.overflow_policy == OverflowPolicy::drop ? SendAction::drop : SendAction::close;
}

std::string close_reason(std::string reason) {
    constexpr std::size_t most = 123;
    if (reason.size() > most) {
        std::size_t cut = most;
        // Do not split a UTF-8 sequence: back up over continuation bytes.
        while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0U) == 0x80U) {
            --cut;
        }
        reason.resize(cut);
    }
    return reason;
}

} // namespace canal::detail
