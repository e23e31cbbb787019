// HttpCommunicator: drive an HTTP application (an AsyncHttpConsumer...) without a socket.
#pragma once

#include <canal/testing/websocket_communicator.hpp>

#include <chrono>
#include <string>

namespace canal {

/** A whole HTTP response, as HttpCommunicator::get_response() collects it. */
struct HttpTestResponse {
    /** The status code. */
    int status = 0;
    /** The headers the application sent. */
    Headers headers;
    /** Every body part, joined. */
    std::string body;
};

/**
 * An HTTP client for tests (channels.testing.HttpCommunicator). The scope is built as the
 * server builds it (path decoded, query split, header names lowered). The request (its body
 * in one part) is sent at construction; a streamed response (server-sent events, long-poll)
 * is read part by part with receive_start() and receive_body().
 *
 * @code
 * HttpCommunicator c{as_app<Events>(), "GET", "/chat/lobby/events"};
 * BOOST_TEST(c.receive_start().status == 200);
 * c.disconnect(); // the client goes away: the application receives HttpDisconnect
 * @endcode
 */
class HttpCommunicator {
public:
    /** `path` may carry a query string; `scope` gives extra headers, the layer, etc. */
    HttpCommunicator(Application app, std::string method, std::string path, std::string body = {},
                     Scope scope = {});

    /** Waits for the whole response; throws canal::Error on timeout or an error the app threw. */
    HttpTestResponse get_response(std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** The response's start (status and headers). */
    HttpResponseStart receive_start(std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** The next body part (`more_body` false on the last). */
    HttpResponseBody receive_body(std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** True when the application sends nothing within `timeout`. */
    bool receive_nothing(std::chrono::milliseconds timeout = std::chrono::milliseconds(100));
    /** The client goes away: the application receives HttpDisconnect; waits for it to end. */
    void disconnect(std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** The underlying communicator. */
    ApplicationCommunicator& communicator() noexcept { return comm_; }

private:
    ApplicationCommunicator comm_;
    bool ended_ = false;
};

} // namespace canal
