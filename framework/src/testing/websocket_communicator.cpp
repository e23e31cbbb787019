// ApplicationCommunicator and WebsocketCommunicator: run an application on a private
// io_context, driven step by step from the test thread.
#include <canal/testing/websocket_communicator.hpp>

#include "routing/dispatch.hpp"

#include <canal/core/errors.hpp>
#include <canal/sync/handler_pool.hpp>

#include "detail/notifier.hpp"

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

    awaitable<void> send(Event ev) {
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
    Receive receive = [impl]() { return impl->receive(); };
    Send send = [impl](Event ev) { return impl->send(std::move(ev)); };
    // run_routed keeps its own copy of the application alive while it runs: an application
    // may return a coroutine that refers to itself (middleware does).
    net::co_spawn(impl->ioc,
                  detail::run_routed(std::move(app), std::move(scope), std::move(receive),
                                     std::move(send)),
                  [impl](std::exception_ptr e) {
                      impl->finished = true;
                      impl->error = e;
                  });
}

ApplicationCommunicator::~ApplicationCommunicator() {
    // Give a running application its disconnect and a moment to clean up (leave groups).
    if (!impl_->finished) {
        send_input(Event{WebsocketDisconnect{1006}});
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

boost::asio::io_context& ApplicationCommunicator::context() noexcept { return impl_->ioc; }

// --- WebsocketCommunicator -------------------------------------------------------------

namespace {
Scope websocket_scope(std::string path, Scope scope, std::vector<std::string> subprotocols) {
    scope.type = "websocket";
    if (scope.scheme.empty()) {
        scope.scheme = "ws";
    }
    auto q = path.find('?');
    if (q != std::string::npos) {
        scope.query_string = path.substr(q + 1);
        path.resize(q);
    }
    scope.raw_path = path;
    scope.path = std::move(path);
    scope.subprotocols = std::move(subprotocols);
    return scope;
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
