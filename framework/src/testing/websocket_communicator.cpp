// ApplicationCommunicator and WebsocketCommunicator: run an application on a private
// io_context, driven step by step from the test thread.
#include <canal/testing/websocket_communicator.hpp>

#include "core/run_routed.hpp"
#include "server/session_core.hpp"

#include <canal/core/errors.hpp>
#include <canal/sync/handler_pool.hpp>

#include "detail/notifier.hpp"

#include <boost/algorithm/hex.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <deque>

namespace canal {

struct ApplicationCommunicator::Impl {
    net::io_context ioc{1};
    std::deque<Event> input;
    std::deque<Event> output;
    detail::Notifier input_ready{ioc.get_executor()};
    bool websocket = false;
    bool http = false;
    bool accepted = false;
    bool closed = false;
    bool response_started = false;
    bool response_ended = false;
    bool finished = false;
    std::exception_ptr error;

    awaitable<Event> receive() {
        while (input.empty()) {
            co_await input_ready.wait();
        }
        Event ev = std::move(input.front());
        input.pop_front();
        co_return ev;
    }

    // The server's lifecycle rules, so that a test sees what a client would.
    awaitable<void> send(Event ev) {
        if (websocket) {
            if (std::holds_alternative<WebsocketAccept>(ev)) {
                accepted = accepted || !closed;
            } else if (std::holds_alternative<WebsocketClose>(ev)) {
                closed = true;
            } else if (std::holds_alternative<WebsocketSend>(ev) && !accepted && !closed) {
                throw Error("websocket send before accept: accept the connection first");
            }
        } else if (auto* part = std::get_if<HttpResponseBody>(&ev)) {
            if (!response_started) {
                throw Error("http response body before http response start");
            }
            if (response_ended) {
                throw Error("http response body after the response ended");
            }
            response_ended = !part->more_body;
        } else if (std::holds_alternative<HttpResponseStart>(ev)) {
            if (response_started) {
                throw Error("http.response.start sent twice");
            }
            response_started = true;
        }
        output.push_back(std::move(ev));
        co_return;
    }

    // Runs handlers until `done()` or the deadline; false on timeout.
    template <typename Done>
    bool run_until(Done done, std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        detail::IoThreadScope io_thread; // this thread runs the application's I/O now
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline) {
                return false;
            }
            if (ioc.stopped()) {
                ioc.restart();
            }
            // Wakes come from this thread's handlers or from other threads' posts (layer
            // sends); run_one_until blocks until one arrives or the deadline passes.
            if (ioc.run_one_until(deadline) == 0 && ioc.stopped()) {
                ioc.restart();
                if (finished) {
                    return done();
                }
            }
        }
        return true;
    }
};

ApplicationCommunicator::ApplicationCommunicator(Application app, Scope scope)
    : impl_(std::make_shared<Impl>()) {
    auto impl = impl_;
    impl->websocket = scope.type == "websocket";
    impl->http = scope.type == "http";
    Receive receive = [impl]() { return impl->receive(); };
    Send send = [impl](Event ev) { return impl->send(std::move(ev)); };
    // run_routed keeps its own copy of the application alive while it runs: an application
    // may return a coroutine that refers to itself (middleware does).
    net::co_spawn(impl->ioc,
                  detail::run_routed(std::make_shared<Application const>(std::move(app)),
                                     std::move(scope), std::move(receive), std::move(send)),
                  [impl](std::exception_ptr e) {
                      impl->finished = true;
                      impl->error = e;
                  });
}

ApplicationCommunicator::~ApplicationCommunicator() {
    // Give a running application its disconnect and a moment to clean up (leave groups).
    if (!impl_->finished) {
        send_input(impl_->http ? Event{HttpDisconnect{}} : Event{WebsocketDisconnect{1006}});
        impl_->run_until([this] { return impl_->finished; }, std::chrono::milliseconds(500));
    }
    // Work started elsewhere for this context (a handler-pool task posting back to it)
    // holds it until that thread is done with it: wait for that before destroying it.
    detail::IoThreadScope io_thread;
    impl_->ioc.restart();
    impl_->ioc.run_for(std::chrono::seconds(2));
}

void ApplicationCommunicator::send_input(Event event) {
    impl_->input.push_back(std::move(event));
    impl_->input_ready.notify();
}

Event ApplicationCommunicator::receive_output(std::chrono::milliseconds timeout) {
    impl_->run_until([this] { return !impl_->output.empty() || impl_->finished; }, timeout);
    if (impl_->output.empty()) {
        if (impl_->finished && impl_->error) {
            std::rethrow_exception(impl_->error);
        }
        throw Error(impl_->finished ? "the application finished without sending anything"
                                    : "timed out waiting for the application to send");
    }
    Event ev = std::move(impl_->output.front());
    impl_->output.pop_front();
    return ev;
}

bool ApplicationCommunicator::receive_nothing(std::chrono::milliseconds timeout) {
    impl_->run_until([this] { return !impl_->output.empty(); }, timeout);
    return impl_->output.empty();
}

bool ApplicationCommunicator::finished() {
    impl_->ioc.poll();
    if (impl_->finished && impl_->error) {
        std::rethrow_exception(impl_->error);
    }
    return impl_->finished;
}

void ApplicationCommunicator::wait(std::chrono::milliseconds timeout) {
    if (!impl_->run_until([this] { return impl_->finished; }, timeout)) {
        throw Error("timed out waiting for the application to finish");
    }
    if (impl_->error) {
        std::rethrow_exception(impl_->error);
    }
}

net::any_io_executor ApplicationCommunicator::get_executor() const {
    return impl_->ioc.get_executor();
}

void ApplicationCommunicator::run(awaitable<void> op, std::chrono::milliseconds timeout) {
    // Shared with the completion handler, which outlives this call when `op` times out.
    struct Outcome {
        bool done = false;
        std::exception_ptr error;
    };
    auto outcome = std::make_shared<Outcome>();
    net::co_spawn(impl_->ioc, std::move(op), [outcome](std::exception_ptr e) {
        outcome->done = true;
        outcome->error = e;
    });
    if (!impl_->run_until([&outcome] { return outcome->done; }, timeout)) {
        throw Error("timed out waiting for the operation given to run() to complete");
    }
    if (outcome->error) {
        std::rethrow_exception(outcome->error);
    }
}

// --- WebsocketCommunicator -------------------------------------------------------------

namespace detail {
// The scope the server would build for `target` (path decoded, query split, header names
// lowered, subprotocols from the header), with what the test put in `given` kept.
// Characters a request line cannot carry as they are (a space, non-ASCII...) are
// percent-encoded, as a client would send them; '%' sequences are kept.
std::string as_sent(std::string_view target) {
    std::string out;
    for (char const& c : target) {
        auto const u = static_cast<unsigned char>(c);
        if (u <= 0x20U || u >= 0x7FU || c == '"' || c == '<' || c == '>' || c == '\\' ||
            c == '^' || c == '`' || c == '{' || c == '|' || c == '}') {
            out += '%';
            boost::algorithm::hex(&c, &c + 1, std::back_inserter(out)); // upper case, as RFC 3986
        } else {
            out += c;
        }
    }
    return out;
}

Scope communicator_scope(std::string_view type, std::string_view method, std::string path,
                         Scope given) {
    std::string const target = as_sent(path);
    RequestHead head;
    head.type = type;
    head.method = method;
    head.target = target;
    head.headers = std::move(given.headers);
    head.client = given.client;
    head.server = given.server;
    auto built = build_scope(std::move(head));
    if (!built) {
        throw Error("communicator path '" + path + "' is not a valid request target: a path "
                    "starting with '/', then an optional '?query'");
    }
    if (!given.scheme.empty()) {
        built->scheme = std::move(given.scheme);
    }
    built->root_path = std::move(given.root_path);
    built->url_route = std::move(given.url_route);
    built->cookies = std::move(given.cookies);
    built->session = std::move(given.session);
    built->user = std::move(given.user);
    built->channel_layer = std::move(given.channel_layer);
    built->channel_layers = std::move(given.channel_layers);
    built->outbound = std::move(given.outbound);
    built->extensions = std::move(given.extensions);
    return std::move(*built);
}
} // namespace detail

namespace {
Scope websocket_scope(std::string path, Scope scope, std::vector<std::string> subprotocols) {
    Scope built = detail::communicator_scope("websocket", "GET", std::move(path), std::move(scope));
    for (auto& p : subprotocols) {
        built.subprotocols.push_back(std::move(p));
    }
    return built;
}
} // namespace

WebsocketCommunicator::WebsocketCommunicator(Application app, std::string path, Scope scope,
                                             std::vector<std::string> subprotocols)
    : comm_(std::move(app),
            websocket_scope(std::move(path), std::move(scope), std::move(subprotocols))) {}

ConnectResult WebsocketCommunicator::connect(std::chrono::milliseconds timeout) {
    comm_.send_input(Event{WebsocketConnect{}});
    Event ev = comm_.receive_output(timeout);
    ConnectResult result;
    if (auto* acc = std::get_if<WebsocketAccept>(&ev)) {
        result.accepted = true;
        result.subprotocol = acc->subprotocol;
        result.headers = acc->headers;
    } else if (auto* cl = std::get_if<WebsocketClose>(&ev)) {
        result.close_code = cl->code;
    } else {
        throw Error("expected accept or close after connect, got event #" +
                    std::to_string(ev.index()));
    }
    return result;
}

void WebsocketCommunicator::send_to(std::string text) {
    comm_.send_input(Event{WebsocketReceive{std::move(text), false}});
}

void WebsocketCommunicator::send_bytes_to(std::string bytes) {
    comm_.send_input(Event{WebsocketReceive{std::move(bytes), true}});
}

void WebsocketCommunicator::send_json_to(boost::json::value const& value) {
    send_to(boost::json::serialize(value));
}

Event WebsocketCommunicator::receive_output(std::chrono::milliseconds timeout) {
    return comm_.receive_output(timeout);
}

std::string WebsocketCommunicator::receive_from(std::chrono::milliseconds timeout) {
    Event ev = comm_.receive_output(timeout);
    if (auto* snd = std::get_if<WebsocketSend>(&ev)) {
        return *snd->data;
    }
    if (auto* cl = std::get_if<WebsocketClose>(&ev)) {
        throw Error("expected a message, but the application closed with " +
                    std::to_string(cl->code) + (cl->reason.empty() ? "" : " (" + cl->reason + ")"));
    }
    throw Error("expected a message, got event #" + std::to_string(ev.index()));
}

boost::json::value WebsocketCommunicator::receive_json_from(std::chrono::milliseconds timeout) {
    return boost::json::parse(receive_from(timeout));
}

bool WebsocketCommunicator::receive_nothing(std::chrono::milliseconds timeout) {
    return comm_.receive_nothing(timeout);
}

void WebsocketCommunicator::disconnect(int code, std::chrono::milliseconds timeout) {
    comm_.send_input(Event{WebsocketDisconnect{code}});
    comm_.wait(timeout);
}

} // namespace canal
