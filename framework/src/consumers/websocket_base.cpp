// WebsocketBase: the websocket lifecycle (groups, handshake, cleanup on errors).
#include <canal/consumers/websocket_base.hpp>

#include "detail/ascii.hpp"
#include "detail/log.hpp"
#include "server/session_core.hpp"

#include <algorithm>
#include <exception>
#include <string_view>

namespace canal::detail {

namespace {

// Headers an application may add to the 101: any but those the handshake itself sets.
void check_accept_headers(Headers const& headers) {
    for (auto const& [name, value] : headers) {
        if (!valid_response_header(name, value)) {
            throw Error("accept(): header '" + name +
                        "' is invalid: its name must be an HTTP token and its value must not "
                        "contain CR, LF or NUL");
        }
        for (std::string_view reserved : {"upgrade", "connection", "sec-websocket-accept",
                                          "sec-websocket-extensions", "content-length",
                                          "transfer-encoding"}) {
            if (ascii_iequals(name, reserved)) {
                throw Error("accept(): header '" + name +
                            "' is set by the server's handshake and cannot be given");
            }
        }
        if (ascii_iequals(name, "sec-websocket-protocol")) {
            throw Error("accept(): choose the subprotocol with accept(subprotocol), not with "
                        "a Sec-WebSocket-Protocol header");
        }
    }
}

} // namespace

std::optional<Event> WebsocketBase::make_accept(std::string subprotocol, Headers headers) {
    check_accept_headers(headers);
    if (!subprotocol.empty()) {
        auto const& offered = scope().subprotocols;
        if (std::find(offered.begin(), offered.end(), subprotocol) == offered.end()) {
            throw Error("accept('" + subprotocol + "'): the client did not offer this subprotocol");
        }
    }
    if (accepted_ || closed_) {
        return std::nullopt;
    }
    accepted_ = true;
    return Event{WebsocketAccept{std::move(subprotocol), std::move(headers)}};
}

std::optional<Event> WebsocketBase::make_send(std::shared_ptr<std::string const> data,
                                              bool binary) const {
    if (closed_ || client_gone_) {
        return std::nullopt;
    }
    if (!accepted_) {
        // The same answer under the server and the communicators: the handler fails, and
        // the client is refused (HTTP 500).
        throw Error("websocket send before accept: accept the connection first");
    }
    if (auto const& q = scope().outbound; q && q->byte_limit != 0 && data->size() > q->byte_limit) {
        throw MessageTooLarge("a websocket message of " + std::to_string(data->size()) +
                              " bytes is larger than the server's outbound limit of " +
                              std::to_string(q->byte_limit) +
                              " bytes (--outbound-queue-bytes): nothing was sent");
    }
    return Event{WebsocketSend{std::move(data), binary}};
}

std::optional<Event> WebsocketBase::make_close(int code, std::string reason) {
    if (closed_ || client_gone_) {
        return std::nullopt;
    }
    closed_ = true;
    // A close frame carries at most 123 bytes of reason (the server cuts it there too).
    if (reason.size() > 123) {
        reason.resize(123);
    }
    return Event{WebsocketClose{code, std::move(reason)}};
}

awaitable<void> WebsocketBase::send_optional(std::optional<Event> event) {
    if (event) {
        co_await send_event(std::move(*event));
    }
}

awaitable<void> WebsocketBase::send_both(std::optional<Event> first, std::optional<Event> then) {
    if (first) {
        co_await send_event(std::move(*first));
    }
    if (then) {
        co_await send_event(std::move(*then));
    }
}

awaitable<void> WebsocketBase::join_groups() {
    for (auto const& g : groups) {
        if (std::find(joined_.begin(), joined_.end(), g) != joined_.end()) {
            continue;
        }
        co_await channel_layer().group_add(g, channel_name());
        joined_.push_back(g);
    }
}

awaitable<void> WebsocketBase::leave_groups() {
    std::string never_joined;
    for (auto const& g : groups) {
        bool const joined = std::find(joined_.begin(), joined_.end(), g) != joined_.end();
        if (connected_ && !joined) {
            never_joined += (never_joined.empty() ? "'" : ", '") + g + "'";
        }
    }
    groups.clear();
    if (!never_joined.empty()) {
        log_warning("consumer " + describe() + ": groups " + never_joined +
                    " were added to `groups` after connect() and never joined: join them "
                    "with channel_layer().group_add() instead");
    }
    if (!has_channel_layer()) {
        co_return;
    }
    auto to_leave = std::move(joined_);
    joined_.clear();
    for (auto& g : to_leave) {
        co_await channel_layer().group_discard(std::move(g), channel_name());
    }
}

awaitable<void> WebsocketBase::run_disconnect(int code) {
    if (disconnect_called_) {
        co_return;
    }
    disconnect_called_ = true;
    co_await hook_disconnect(code);
}

awaitable<void> WebsocketBase::on_event(Event event) {
    if (std::holds_alternative<WebsocketConnect>(event)) {
        co_await join_groups();
        bool accept_now = false;
        bool deny = false;
        std::exception_ptr failed;
        // What a sync connect() posts (its accept()) leaves after the groups it names are
        // joined, as in the async style: a group_send after the client's 101 reaches it.
        hold_posted_events();
        try {
            co_await hook_connect();
        } catch (AcceptConnection const&) {
            accept_now = true;
        } catch (DenyConnection const& e) {
            deny = true;
            if (std::string_view(e.what()) != "connection denied") {
                log_info("consumer " + describe() + ": connection denied: " + e.what());
            }
        } catch (...) {
            failed = std::current_exception();
        }
        if (deny || failed) {
            co_await release_posted_events();
        }
        if (failed) {
            std::rethrow_exception(failed);
        }
        if (deny) {
            groups = joined_; // none to join for a refused connection
            co_await send_optional(make_close(1000, {}));
            co_return;
        }
        // Groups named in connect() (from the URL, the user): joined now.
        std::exception_ptr join_failed;
        try {
            co_await join_groups();
        } catch (...) {
            join_failed = std::current_exception();
        }
        co_await release_posted_events();
        if (join_failed) {
            std::rethrow_exception(join_failed);
        }
        connected_ = true;
        if (accept_now) {
            co_await send_optional(make_accept({}));
        }
    } else if (auto* rx = std::get_if<WebsocketReceive>(&event)) {
        co_await hook_receive(std::move(rx->data), rx->binary);
    } else if (auto* dc = std::get_if<WebsocketDisconnect>(&event)) {
        client_gone_ = true;
        co_await run_disconnect(dc->code);
        co_await leave_groups();
        stop_after_this_handler();
    }
}

awaitable<void> WebsocketBase::on_finish() {
    // StopConsumer from a handler ends the connection too: leave the groups now rather
    // than leaving them to expire (the server then closes the socket with 1000).
    co_await leave_groups();
}

awaitable<void> WebsocketBase::on_error(std::exception_ptr error) {
    std::string what = "unknown exception";
    bool overflow = false;
    try {
        std::rethrow_exception(error);
    } catch (ChannelOverflow const& e) {
        what = e.what();
        overflow = true;
    } catch (LayerUnavailable const& e) {
        what = std::string("channel layer unavailable: ") + e.what();
        overflow = true;
    } catch (std::exception const& e) {
        what = e.what();
    } catch (...) {
    }
    bool const refused_by_server = !accepted_ && !closed_ && !client_gone_;
    // Lost layer messages, or a layer out of reach, are the server's trouble, not the
    // client's: 1013 "try again later".
    int const code = overflow ? 1013 : 1011;
    if (refused_by_server) {
        // Before the handshake was answered: the server refuses it (HTTP 500) and logs the
        // failure once, with what the client got.
    } else if (overflow) {
        log_warning("consumer " + describe() + ": " + what + "; closing with 1013");
    } else {
        log_error("consumer " + describe() + ": handler failed: " + what + "; closing with 1011");
    }
    if (!disconnect_called_) {
        try {
            co_await run_disconnect(code);
        } catch (std::exception const& e) {
            log_error("consumer " + describe() + ": disconnect() failed too: " + e.what());
        }
    }
    try {
        co_await leave_groups();
    } catch (std::exception const& e) {
        log_error("consumer " + describe() + ": leaving groups failed: " + e.what());
    }
    if (accepted_) {
        co_await send_optional(
            make_close(code, overflow ? "server overloaded or its channel layer unreachable: "
                                        "try again later"
                                      : "internal error"));
    } else if (!closed_ && !client_gone_) {
        // Before the handshake was answered: let the server refuse it (HTTP 500).
        std::rethrow_exception(error);
    }
}

} // namespace canal::detail
