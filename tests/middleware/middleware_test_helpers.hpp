// Helpers of the middleware tests: run a coroutine to completion, drive an application with
// scripted events and record what it sends.
#pragma once

#include "support/async_run.hpp"

#include <canal/core/application.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace canal::test {

// run_sync(): support/async_run.hpp.

/** A coroutine that does nothing (what a test application returns after looking at its scope). */
inline awaitable<void> nothing() { co_return; }

/** Events given to an application and what it sent back. */
struct Exchange {
    std::deque<Event> incoming;
    std::vector<Event> sent;
};

inline awaitable<Event> exchange_receive(std::shared_ptr<Exchange> ex) {
    if (ex->incoming.empty()) {
        co_return Event{HttpDisconnect{}};
    }
    auto ev = std::move(ex->incoming.front());
    ex->incoming.pop_front();
    co_return ev;
}

inline awaitable<void> exchange_send(std::shared_ptr<Exchange> ex, Event ev) {
    ex->sent.push_back(std::move(ev));
    co_return;
}

/** Runs `app` with `scope`, feeding `incoming`; returns the exchange with what was sent. */
inline std::shared_ptr<Exchange> drive(Application const& app, Scope scope,
                                       std::vector<Event> incoming = {}) {
    auto ex = std::make_shared<Exchange>();
    for (auto& ev : incoming) {
        ex->incoming.push_back(std::move(ev));
    }
    Receive receive = [ex] { return exchange_receive(ex); };
    Send send = [ex](Event ev) { return exchange_send(ex, std::move(ev)); };
    run_sync(app(std::move(scope), std::move(receive), std::move(send)));
    return ex;
}

/** An HTTP scope for `path` with these headers. */
inline Scope http_scope(std::string path, Headers headers = {}) {
    Scope s;
    s.type = "http";
    s.scheme = "http";
    s.method = "GET";
    s.path = std::move(path);
    s.headers = std::move(headers);
    s.client = Endpoint{"127.0.0.1", 50000};
    return s;
}

/** The values of the `set-cookie` headers of the first response start in `sent`. */
inline std::vector<std::string> set_cookies(std::vector<Event> const& sent) {
    std::vector<std::string> out;
    for (auto const& ev : sent) {
        if (auto const* start = std::get_if<HttpResponseStart>(&ev)) {
            for (auto const& [name, value] : start->headers) {
                if (name == "set-cookie") {
                    out.push_back(value);
                }
            }
            break;
        }
    }
    return out;
}

} // namespace canal::test
