// AsyncHttpConsumer: collects the body, runs handle(), and stops when the response is over.
#include <canal/consumers/async_http_consumer.hpp>

namespace canal {

awaitable<void> AsyncHttpConsumer::disconnect() { co_return; }

// Not coroutines: the events are built here, outside any coroutine frame (g++ 12
// miscompiles braced temporaries in a co_await operand), and the server's awaitable is
// handed on as it is.
awaitable<void> AsyncHttpConsumer::send_headers(int status, Headers headers) {
    return send_event(Event{HttpResponseStart{status, std::move(headers)}});
}

awaitable<void> AsyncHttpConsumer::send_body(std::string body, bool more_body) {
    if (!more_body) {
        ended_ = true;
    }
    return send_event(Event{HttpResponseBody{std::move(body), more_body}});
}

awaitable<void> AsyncHttpConsumer::send_response(int status, std::string body, Headers headers) {
    co_await send_headers(status, std::move(headers));
    co_await send_body(std::move(body));
}

awaitable<void> AsyncHttpConsumer::finish_once() {
    if (!disconnected_) {
        disconnected_ = true;
        co_await disconnect();
    }
}

awaitable<void> AsyncHttpConsumer::on_event(Event event) {
    if (auto* request = std::get_if<HttpRequest>(&event)) {
        body_ += request->body;
        if (request->more_body) {
            co_return;
        }
        bool aborted = false;
        try {
            co_await handle(std::move(body_));
        } catch (RequestAborted const&) {
            aborted = true; // the client left mid-response: as a disconnect
        }
        body_.clear();
        if (ended_ || aborted) {
            co_await finish_once();
            throw StopConsumer();
        }
    } else if (std::holds_alternative<HttpDisconnect>(event)) {
        co_await finish_once();
        throw StopConsumer();
    }
}

awaitable<void> AsyncHttpConsumer::on_finish() { co_await finish_once(); }

} // namespace canal
