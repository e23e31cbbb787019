// HttpCommunicator: an HTTP exchange with an application, step by step from the test thread.
#include <canal/testing/http_communicator.hpp>

#include <canal/core/errors.hpp>

namespace canal {

namespace detail {
Scope communicator_scope(std::string_view type, std::string_view method, std::string target,
                         Scope given);
} // namespace detail

HttpCommunicator::HttpCommunicator(Application app, std::string method, std::string path,
                                   std::string body, Scope scope)
    : comm_(std::move(app), detail::communicator_scope("http", method, std::move(path),
                                                       std::move(scope))) {
    comm_.send_input(Event{HttpRequest{std::move(body), false}});
}

HttpResponseStart HttpCommunicator::receive_start(std::chrono::milliseconds timeout) {
    Event ev = comm_.receive_output(timeout);
    if (auto* start = std::get_if<HttpResponseStart>(&ev)) {
        return std::move(*start);
    }
    throw Error("expected the response start, got event #" + std::to_string(ev.index()));
}

HttpResponseBody HttpCommunicator::receive_body(std::chrono::milliseconds timeout) {
    Event ev = comm_.receive_output(timeout);
    if (auto* part = std::get_if<HttpResponseBody>(&ev)) {
        if (!part->more_body && !ended_) {
            // As the server does once the response is over.
            ended_ = true;
            comm_.send_input(Event{HttpDisconnect{}});
        }
        return std::move(*part);
    }
    throw Error("expected a response body part, got event #" + std::to_string(ev.index()));
}

HttpTestResponse HttpCommunicator::get_response(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto left = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
            std::max(deadline - std::chrono::steady_clock::now(),
                     std::chrono::steady_clock::duration::zero()));
    };
    HttpTestResponse response;
    auto start = receive_start(left());
    response.status = start.status;
    response.headers = std::move(start.headers);
    for (;;) {
        auto part = receive_body(left());
        response.body += part.body;
        if (!part.more_body) {
            break;
        }
    }
    comm_.wait(left());
    return response;
}

bool HttpCommunicator::receive_nothing(std::chrono::milliseconds timeout) {
    return comm_.receive_nothing(timeout);
}

void HttpCommunicator::disconnect(std::chrono::milliseconds timeout) {
    if (!ended_) {
        ended_ = true;
        comm_.send_input(Event{HttpDisconnect{}});
    }
    comm_.wait(timeout);
}

} // namespace canal
