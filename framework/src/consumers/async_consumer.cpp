// AsyncConsumer: the inbox that merges client events and layer messages, and the loop that
// runs the handlers one at a time.
#include <canal/consumers/async_consumer.hpp>

#include "detail/log.hpp"
#include "detail/notifier.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include <deque>
#include <variant>

namespace canal {

// Strand-local: the pumps and the handler loop all run on the connection's strand.
struct AsyncConsumer::Inbox {
    explicit Inbox(net::any_io_executor ex) : not_empty(ex), not_full(ex) {}

    using Item = std::variant<Event, Message>;

    awaitable<void> push(Item item) {
        while (items.size() >= inbox_capacity) {
            co_await not_full.wait();
        }
        items.push_back(std::move(item));
        not_empty.notify();
    }

    awaitable<Item> pop() {
        while (items.empty()) {
            co_await not_empty.wait();
        }
        Item item = std::move(items.front());
        items.pop_front();
        not_full.notify();
        co_return item;
    }

    std::deque<Item> items;
    detail::Notifier not_empty;
    detail::Notifier not_full;
};

AsyncConsumer::AsyncConsumer() = default;
AsyncConsumer::~AsyncConsumer() = default;

void AsyncConsumer::on(std::string type, Handler handler) {
    handlers_.insert_or_assign(std::move(type), std::move(handler));
}

ChannelLayer& AsyncConsumer::channel_layer() const {
    if (!layer_) {
        throw Error("consumer " + describe() + " has no channel layer: set Settings::channel_layer "
                    "(canal::run creates an in-memory one) or the scope's channel_layer");
    }
    return *layer_;
}

awaitable<void> AsyncConsumer::send_event(Event event) { co_await send_(std::move(event)); }

awaitable<void> AsyncConsumer::on_event(Event /*event*/) { co_return; }

awaitable<void> AsyncConsumer::on_finish() { co_return; }

awaitable<void> AsyncConsumer::on_error(std::exception_ptr error) {
    std::rethrow_exception(error);
    co_return;
}

awaitable<void> AsyncConsumer::dispatch(Message const& message) {
    auto it = handlers_.find(message.type());
    if (it == handlers_.end()) {
        throw NoHandler("no handler for message type '" + std::string(message.type()) +
                        "' in consumer " + describe() + " (register one with on())");
    }
    co_await it->second(message);
}

std::string AsyncConsumer::describe() const {
    return scope_.type + " " + (scope_.path.empty() ? std::string("?") : scope_.path);
}

awaitable<void> AsyncConsumer::client_pump(Receive receive) {
    for (;;) {
        Event ev = co_await receive();
        bool const last = std::holds_alternative<WebsocketDisconnect>(ev) ||
                          std::holds_alternative<HttpDisconnect>(ev);
        co_await inbox_->push(std::move(ev));
        if (last) {
            co_return;
        }
    }
}

awaitable<void> AsyncConsumer::layer_pump() {
    for (;;) {
        Message m = co_await layer_->receive(channel_name_);
        co_await inbox_->push(std::move(m));
    }
}

namespace {
bool is_cancellation(std::exception_ptr const& e) {
    try {
        std::rethrow_exception(e);
    } catch (boost::system::system_error const& se) {
        return se.code() == net::error::operation_aborted;
    } catch (...) {
        return false;
    }
}
} // namespace

awaitable<void> AsyncConsumer::run(Scope scope, Receive receive, Send send) {
    scope_ = std::move(scope);
    send_ = std::move(send);
    layer_ = scope_.channel_layer;
    auto ex = co_await net::this_coro::executor;
    executor_ = ex;
    inbox_ = std::make_unique<Inbox>(ex);
    if (layer_) {
        channel_name_ = co_await layer_->new_channel();
    }

    // The pumps feed the inbox; their completion handlers run on this strand and refer to
    // these locals, which outlive them because this frame waits for `running` to drop to 0.
    int running = 0;
    detail::Notifier pumps_done(ex);
    net::cancellation_signal stop_client;
    net::cancellation_signal stop_layer;
    auto on_pump_end = [this, &running, &pumps_done](std::exception_ptr e) {
        --running;
        if (e && !is_cancellation(e)) {
            try {
                std::rethrow_exception(e);
            } catch (std::exception const& ex) {
                detail::log_error("consumer " + describe() + ": receive failed: " + ex.what());
            }
        }
        pumps_done.notify();
    };
    ++running;
    net::co_spawn(ex, client_pump(std::move(receive)),
                  net::bind_cancellation_slot(stop_client.slot(), on_pump_end));
    if (layer_) {
        ++running;
        net::co_spawn(ex, layer_pump(), net::bind_cancellation_slot(stop_layer.slot(), on_pump_end));
    }

    std::exception_ptr failure;
    for (;;) {
        try {
            auto item = co_await inbox_->pop();
            if (auto* ev = std::get_if<Event>(&item)) {
                co_await on_event(std::move(*ev));
            } else {
                co_await dispatch(std::get<Message>(item));
            }
        } catch (StopConsumer const&) {
            break;
        } catch (...) {
            failure = std::current_exception();
            break;
        }
    }
    std::exception_ptr escaped;
    try {
        if (failure) {
            co_await on_error(failure);
        } else {
            co_await on_finish();
        }
    } catch (...) {
        escaped = std::current_exception();
    }

    stop_client.emit(net::cancellation_type::terminal);
    stop_layer.emit(net::cancellation_type::terminal);
    while (running > 0) {
        co_await pumps_done.wait();
    }
    if (escaped) {
        std::rethrow_exception(escaped);
    }
}

} // namespace canal
