// ApplicationCommunicator and WebsocketCommunicator: drive an application without a socket.
#pragma once

#include <canal/core/application.hpp>

#include <boost/json/value.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace canal {

/**
 * Runs one application instance in-process (channels.testing.ApplicationCommunicator).
 * Its own io_context runs only while a call waits, so tests are deterministic and need
 * no threads. Timeouts are in-process deadlines.
 */
class ApplicationCommunicator {
public:
    /** One instance of `app` with `scope`, run on the communicator's own io_context. */
    ApplicationCommunicator(Application app, Scope scope);
    ~ApplicationCommunicator();
    ApplicationCommunicator(ApplicationCommunicator const&) = delete;
    ApplicationCommunicator& operator=(ApplicationCommunicator const&) = delete;

    /** Queues an event for the application. */
    void send_input(Event event);
    /** The next event the application sent; throws canal::Error on timeout. */
    Event receive_output(std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** True when the application sends nothing within `timeout`. */
    bool receive_nothing(std::chrono::milliseconds timeout = std::chrono::milliseconds(100));
    /** True once the application returned; rethrows what it threw. */
    bool finished();
    /** Waits up to `timeout` for the application to return; rethrows what it threw. */
    void wait(std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** The executor the application runs on (one thread: the test's, in the calls above). */
    [[nodiscard]] net::any_io_executor get_executor() const;

    /**
     * Runs `op` (a layer call, for instance) on the application's executor, and the
     * application with it, until `op` completes; rethrows what it threw. Throws
     * canal::Error ("timed out ...") when it has not completed within `timeout`.
     */
    void run(awaitable<void> op, std::chrono::milliseconds timeout = std::chrono::seconds(1));

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

/** The outcome of WebsocketCommunicator::connect(). */
struct ConnectResult {
    /** True when the application accepted the handshake. */
    bool accepted = false;
    /** Chosen subprotocol when accepted. */
    std::string subprotocol;
    /** Headers the application added to the handshake's response when accepted. */
    Headers headers;
    /** Close code when refused (1000 for DenyConnection/close() before accept). */
    int close_code = 0;
};

/**
 * A websocket client for tests (channels.testing.WebsocketCommunicator).
 *
 * @code
 * WebsocketCommunicator c{app, "/ws/chat/lobby/"};
 * BOOST_TEST(c.connect().accepted);
 * c.send_json_to(json::object{{"message", "hi"}});
 * BOOST_TEST(c.receive_json_from().at("message") == "hi");
 * c.disconnect();
 * @endcode
 */
class WebsocketCommunicator {
public:
    /** `path` may carry a query string; `scope` gives headers, layer, etc. */
    WebsocketCommunicator(Application app, std::string path, Scope scope = {},
                          std::vector<std::string> subprotocols = {});

    /** Sends the connect event and waits for accept or close. */
    ConnectResult connect(std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** Sends a text message. */
    void send_to(std::string text);
    /** Sends a binary message. */
    void send_bytes_to(std::string bytes);
    /** Sends a JSON-encoded text message. */
    void send_json_to(boost::json::value const& value);
    /** The next text (or bytes) message; throws canal::Error on timeout or close. */
    std::string receive_from(std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** The next message, JSON-decoded. */
    boost::json::value receive_json_from(std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** The next output event, whatever it is (e.g. a WebsocketClose). */
    Event receive_output(std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** True when nothing is sent within `timeout`. */
    bool receive_nothing(std::chrono::milliseconds timeout = std::chrono::milliseconds(100));
    /** Sends the disconnect event and waits for the application to end. */
    void disconnect(int code = 1000, std::chrono::milliseconds timeout = std::chrono::seconds(1));
    /** The underlying communicator. */
    ApplicationCommunicator& communicator() noexcept { return comm_; }

private:
    ApplicationCommunicator comm_;
};

} // namespace canal
