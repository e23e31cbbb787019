// AsyncConsumer: the inbox that merges client events and layer messages, and the loop that
// runs the handlers one at a time.
#include <canal/consumers/async_consumer.hpp>

#include <canal/sync/sync_to_async.hpp>

#include "core/event_source.hpp"
#include "detail/doorbell.hpp"
#include "detail/log.hpp"
#include "detail/notifier.hpp"
#include "layers/channel_receiver.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/container/devector.hpp>
#include <boost/system/system_error.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>
#include <variant>

namespace canal {

// Strand-local: the pumps and the handler loop all run on the connection's strand. When the
// server's own Receive is given, the connection puts client events here directly (EventSink)
// and is told when there is room again.
struct AsyncConsumer::Inbox : detail::EventSink, detail::MessageSink {
    explicit Inbox(net::any_io_executor const& ex) : not_empty(ex) {}

    // A layer failure (e.g. ChannelOverflow) travels in order with the messages.
    using Item = std::variant<Event, Message, std::exception_ptr>;

    // Client events and layer messages have a quota each: a client's burst of frames must
    // not keep the consumer's own channel from draining (a group_send of this consumer that
    // waits for room in its own channel would otherwise wait for itself).
    static bool from_client(Item const& item) { return std::holds_alternative<Event>(item); }

    std::size_t& count_of(Item const& item) { return from_client(item) ? client_items : layer_items; }

    awaitable<void> push(Item item) {
        while (count_of(item) >= inbox_capacity) {
            auto ex = co_await net::this_coro::executor;
            co_await not_full.wait(ex);
        }
        ++count_of(item);
        items.push_back(std::move(item));
        not_empty.ring();
    }

    // Lets go of the connection and the layer's receiver (the consumer is ending).
    void detach() noexcept;

    Item take_front() {
        Item item = std::move(items.front());
        items.pop_front();
        --count_of(item);
        if (from_client(item)) {
            if (source != nullptr) {
                source->room();
            }
        } else if (receiver) {
            receiver->resume();
        }
        return item;
    }

    // MessageSink: the layer hands this consumer's channel over while there is room.
    void put_message(Message message) override {
        ++layer_items;
        items.emplace_back(std::move(message));
        not_empty.ring();
    }
    void fail(std::exception_ptr error) override {
        ++layer_items;
        items.emplace_back(std::move(error));
        not_empty.ring();
    }
    [[nodiscard]] bool room_for_messages() const override { return layer_items < inbox_capacity; }

    // The layer's receiver of this consumer's channel, when the layer has one.
    std::shared_ptr<detail::ChannelReceiver> receiver;

    // EventSink: the connection's reader checks has_room() before each message; its own
    // events (connect, disconnect) may go past the quota.
    void put(Event event) override {
        ++client_items;
        items.emplace_back(std::move(event));
        not_empty.ring();
    }
    [[nodiscard]] bool has_room() const override { return client_items < inbox_capacity; }

    // The connection attached to (client events arrive through put()), or null.
    detail::EventSource* source = nullptr;

    std::size_t client_items = 0;
    std::size_t layer_items = 0;
    // devector, not deque: nothing is allocated while empty (an idle connection's inbox).
    boost::container::devector<Item> items;
    // The loop's wait while idle: no timer (a Doorbell keeps the waiter's handler).
    detail::Doorbell not_empty;
    // Made when a pump first waits for room (none with the server's receive and a layer's
    // receiver: an idle connection's inbox keeps one timer, not two).
    detail::LazyNotifier not_full;
};

// Events posted by handler threads, sent on the strand by one drain at a time.
struct AsyncConsumer::Outgoing {
    std::mutex mutex;
    std::vector<Event> events;
    bool draining = false;
};

AsyncConsumer::AsyncConsumer() = default;
AsyncConsumer::~AsyncConsumer() = default;

namespace {
template <typename Entries>
auto find_type(Entries& entries, std::string_view type) {
    return std::find_if(entries.begin(), entries.end(),
                        [type](auto const& entry) { return entry.first == type; });
}

template <typename Entries, typename Handler>
void set_handler(Entries& entries, std::string type, Handler handler) {
    auto it = find_type(entries, type);
    if (it != entries.end()) {
        it->second = std::move(handler);
    } else {
        entries.emplace_back(std::move(type), std::move(handler));
    }
}
} // namespace

void AsyncConsumer::on(std::string type, Handler handler) {
    auto it = find_type(blocking_, type);
    if (it != blocking_.end()) {
        blocking_.erase(it);
    }
    set_handler(handlers_, std::move(type), std::move(handler));
}

void AsyncConsumer::on_blocking(std::string type, BlockingHandler handler) {
    set_handler(blocking_, std::move(type), std::move(handler));
}

std::function<void()> AsyncConsumer::blocking_event(Event& /*event*/) { return {}; }

std::function<void()> AsyncConsumer::blocking_item(Inbox::Item& item) {
    if (auto* ev = std::get_if<Event>(&item)) {
        return blocking_event(*ev);
    }
    if (auto* m = std::get_if<Message>(&item)) {
        auto it = find_type(blocking_, m->type());
        if (it != blocking_.end()) {
            return [handler = &it->second, message = std::move(*m)] { (*handler)(message); };
        }
    }
    return {};
}

// Not a coroutine: the batch and the callable are built here, outside any coroutine frame
// (g++ 12 miscompiles callables kept in frames).
awaitable<void> AsyncConsumer::run_blocking_batch(std::function<void()> first) {
    auto batch = std::make_shared<std::vector<std::function<void()>>>();
    batch->push_back(std::move(first));
    // Two thread hand-offs per item are the sync style's cost: take the blocking items
    // already queued behind this one (up to a bound) into the same trip to the pool.
    while (batch->size() < inbox_capacity && !inbox_->items.empty()) {
        auto fn = blocking_item(inbox_->items.front());
        if (!fn) {
            break;
        }
        inbox_->take_front();
        batch->push_back(std::move(fn));
    }
    inbox_->not_full.notify();
    return sync_to_async([batch] {
        for (auto const& fn : *batch) {
            fn();
        }
    });
}

ChannelLayer& AsyncConsumer::channel_layer() const {
    if (!layer_) {
        throw Error("consumer " + describe() + " has no channel layer: set Settings::channel_layer "
                    "(canal::run creates an in-memory one) or the scope's channel_layer");
    }
    return *layer_;
}

void AsyncConsumer::post_event_from_thread(Event event) {
    // Made by the first post (a handler thread's): an async consumer never needs it.
    std::call_once(outgoing_made_, [this] { outgoing_ = std::make_unique<Outgoing>(); });
    {
        std::lock_guard lock(outgoing_->mutex);
        outgoing_->events.push_back(std::move(event));
        if (outgoing_->draining || hold_posts_) {
            return; // the drain on the strand takes it with the others
        }
        outgoing_->draining = true;
    }
    net::co_spawn(executor_, drain_outgoing(), [this](std::exception_ptr e) {
        if (e) {
            {
                std::lock_guard lock(outgoing_->mutex);
                outgoing_->events.clear();
                outgoing_->draining = false;
            }
            detail::log_exception("sending from a sync handler of consumer " + describe(), e);
        }
    });
}

awaitable<void> AsyncConsumer::release_posted_events() {
    if (!outgoing_) {
        hold_posts_ = false; // nothing was posted
        co_return;
    }
    {
        std::lock_guard lock(outgoing_->mutex);
        hold_posts_ = false;
        if (outgoing_->draining || outgoing_->events.empty()) {
            co_return;
        }
        outgoing_->draining = true;
    }
    co_await drain_outgoing();
}

awaitable<void> AsyncConsumer::drain_outgoing() {
    std::vector<Event> batch;
    for (;;) {
        {
            std::lock_guard lock(outgoing_->mutex);
            if (outgoing_->events.empty()) {
                outgoing_->draining = false;
                co_return;
            }
            batch.swap(outgoing_->events);
        }
        for (auto& event : batch) {
            // One refused event (e.g. a send before accept) must not take the others along.
            std::exception_ptr refused;
            try {
                co_await send_(std::move(event));
            } catch (...) {
                refused = std::current_exception();
            }
            if (refused) {
                detail::log_exception("sending from a sync handler of consumer " + describe(),
                                      refused);
            }
        }
        batch.clear();
    }
}

// Not a coroutine: the server's awaitable is handed on as it is (one frame less per send).
awaitable<void> AsyncConsumer::send_event(Event event) { return send_(std::move(event)); }

awaitable<void> AsyncConsumer::on_event(Event /*event*/) { co_return; }

awaitable<void> AsyncConsumer::on_finish() { co_return; }

awaitable<void> AsyncConsumer::on_error(std::exception_ptr error) {
    std::rethrow_exception(error);
    co_return;
}

namespace {
// Says what can be fixed: the types that have a handler, and the likely one when only '.'
// and '_' differ (Channels turns "chat.message" into the method name chat_message).
std::string no_handler_message(std::string_view type, std::string const& consumer,
                               std::vector<std::string_view> const& registered) {
    std::string text = "no handler for message type '" + std::string(type) + "' in consumer " +
                       consumer + ": ";
    if (registered.empty()) {
        text += "it registers none";
    } else {
        text += "it registers ";
        for (std::size_t i = 0; i < registered.size(); ++i) {
            text += (i == 0 ? "'" : ", '") + std::string(registered[i]) + "'";
        }
    }
    auto const same_but_separators = [type](std::string_view other) {
        return other.size() == type.size() &&
               std::equal(other.begin(), other.end(), type.begin(), [](char a, char b) {
                   return a == b || ((a == '.' || a == '_') && (b == '.' || b == '_'));
               });
    };
    for (auto const candidate : registered) {
        if (same_but_separators(candidate)) {
            text += "; did you mean '" + std::string(candidate) +
                    "'? Types are matched exactly: '.' and '_' differ (Channels' method name "
                    "chat_message handles the type \"chat.message\")";
            return text;
        }
    }
    return text + "; register a handler with on(\"" + std::string(type) + "\", ...)";
}
} // namespace

awaitable<void> AsyncConsumer::dispatch(Message const& message) {
    auto it = find_type(handlers_, message.type());
    if (it == handlers_.end()) {
        std::vector<std::string_view> registered;
        for (auto const& [type, handler] : handlers_) {
            registered.push_back(type);
        }
        std::sort(registered.begin(), registered.end());
        throw NoHandler(no_handler_message(message.type(), describe(), registered));
    }
    co_await it->second(message);
}

std::string AsyncConsumer::describe() const {
    if (scope_.type == "channel") {
        return "channel " + scope_.channel;
    }
    return scope_.type + " " + (scope_.path.empty() ? std::string("?") : scope_.path);
}

awaitable<void> AsyncConsumer::client_pump(Receive receive) {
    for (;;) {
        // A receive that throws StopConsumer (a worker stopping) ends the consumer after the
        // events before it, as a StopConsumer from a handler does.
        std::exception_ptr stop;
        std::optional<Event> received;
        try {
            received.emplace(co_await receive());
        } catch (StopConsumer const&) {
            stop = std::current_exception();
        }
        if (stop) {
            co_await inbox_->push(stop);
            co_return;
        }
        Event ev = std::move(*received);
        if (auto* from_channel = std::get_if<ChannelMessage>(&ev)) {
            // A worker's message ("channel" scope): dispatched by type like the layer's.
            Message message = std::move(from_channel->message);
            co_await inbox_->push(std::move(message));
            continue;
        }
        bool const last = std::holds_alternative<WebsocketDisconnect>(ev) ||
                          std::holds_alternative<HttpDisconnect>(ev);
        co_await inbox_->push(std::move(ev));
        if (last) {
            co_return;
        }
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

awaitable<void> AsyncConsumer::layer_pump() {
    std::exception_ptr failure;
    try {
        for (;;) {
            // Nothing when cancelled: the consumer is ending (no exception per connection).
            auto m = co_await layer_->receive_until_cancelled(channel_name_);
            if (!m) {
                co_return;
            }
            co_await inbox_->push(std::move(*m));
        }
    } catch (...) {
        failure = std::current_exception();
    }
    if (is_cancellation(failure)) {
        std::rethrow_exception(failure);
    }
    // A consumer that can no longer receive its messages must not go on as if nothing
    // happened: the failure ends it through its error path (websocket: a close code).
    co_await inbox_->push(failure);
}

namespace detail {
awaitable<void> throw_when_awaited(std::exception_ptr error) {
    std::rethrow_exception(std::move(error));
    co_return;
}
} // namespace detail

// The pumps that feed the inbox when the connection or the layer cannot hand it events and
// messages directly (a communicator's receive, a layer without receivers): on the heap,
// and only then, so that an idle connection's frame does not carry them.
struct AsyncConsumer::Pumps {
    explicit Pumps(net::any_io_executor const& ex) : done(ex) {}
    int running = 0;
    detail::Notifier done;
    net::cancellation_signal stop_client;
    net::cancellation_signal stop_layer;
};

awaitable<void> AsyncConsumer::run(Scope scope, Receive receive, Send send) {
    return start(std::move(scope), std::move(receive), std::move(send), nullptr);
}

awaitable<void> AsyncConsumer::run_owned(std::unique_ptr<AsyncConsumer> consumer, Scope scope,
                                         Receive receive, Send send) {
    auto& self = *consumer;
    return self.start(std::move(scope), std::move(receive), std::move(send), std::move(consumer));
}

// Not a coroutine: the scope goes to its member now rather than into a frame that would
// keep an empty copy of it for the connection's whole life.
awaitable<void> AsyncConsumer::start(Scope scope, Receive receive, Send send,
                                     std::unique_ptr<AsyncConsumer> owner) {
    scope_ = std::move(scope);
    send_ = std::move(send);
    if (channel_layer_alias == default_layer_alias) {
        layer_ = scope_.channel_layer;
    } else {
        layer_ = get_channel_layer(scope_, channel_layer_alias);
        if (!layer_) {
            return detail::throw_when_awaited(std::make_exception_ptr(
                Error("consumer " + describe() + " has channel_layer_alias '" +
                      channel_layer_alias + "', and the application has no layer of that name "
                      "(its layers: " + layer_aliases(scope_) +
                      "); add it to Settings::channel_layers or with --layer-alias")));
        }
    }
    return run_loop(std::move(receive), std::move(owner));
}

// Not a coroutine (the lambda is built outside any frame). The server's own Receive puts
// its events straight into the inbox, and a layer with receivers hands messages over by
// callbacks: no pump then.
std::unique_ptr<AsyncConsumer::Pumps> AsyncConsumer::start_inputs(Receive& receive) {
    try {
        return spawn_inputs(receive);
    } catch (...) {
        inbox_->detach(); // the connection must not keep a pointer to this inbox
        throw;
    }
}

std::unique_ptr<AsyncConsumer::Pumps> AsyncConsumer::spawn_inputs(Receive& receive) {
    std::unique_ptr<Pumps> pumps;
    auto on_pump_end = [this](Pumps* p) {
        return [this, p](std::exception_ptr e) {
            --p->running;
            if (e && !is_cancellation(e)) {
                try {
                    std::rethrow_exception(e);
                } catch (std::exception const& ex) {
                    detail::log_error("consumer " + describe() + ": receive failed: " + ex.what());
                }
            }
            p->done.notify();
        };
    };
    if (auto const* direct = receive.target<detail::SourceReceive>()) {
        inbox_->source = direct->source.get();
        inbox_->source->attach(inbox_.get());
    } else {
        pumps = std::make_unique<Pumps>(executor_);
        ++pumps->running;
        net::co_spawn(
            executor_, client_pump(std::move(receive)),
            net::bind_cancellation_slot(pumps->stop_client.slot(), on_pump_end(pumps.get())));
    }
    if (layer_) {
        inbox_->receiver = layer_->attach_receiver(channel_name_, executor_, inbox_.get());
        if (!inbox_->receiver) {
            if (!pumps) {
                pumps = std::make_unique<Pumps>(executor_);
            }
            ++pumps->running;
            net::co_spawn(
                executor_, layer_pump(),
                net::bind_cancellation_slot(pumps->stop_layer.slot(), on_pump_end(pumps.get())));
        }
    }
    return pumps;
}

void AsyncConsumer::Inbox::detach() noexcept {
    if (source != nullptr) {
        source->attach(nullptr);
        source = nullptr;
    }
    if (receiver) {
        receiver->stop();
        receiver.reset();
    }
}

// The inbox, the consumer's channel and its inputs: a frame of its own, so that what it
// awaits takes no room in run_loop's frame.
awaitable<std::unique_ptr<AsyncConsumer::Pumps>> AsyncConsumer::open_inbox(Receive& receive) {
    executor_ = co_await net::this_coro::executor;
    inbox_ = std::make_unique<Inbox>(executor_);
    if (layer_) {
        channel_name_ = co_await layer_->new_channel();
    }
    co_return start_inputs(receive);
}

// What this frame holds stays alive for the connection's whole life: it is kept small (a
// batch of items is handled in handle_batch()'s frame, which exists only while there are
// some, and the end in end_loop()'s). `owner`, when run_owned() gave it, deletes this
// consumer with the frame.
awaitable<void> AsyncConsumer::run_loop(Receive receive, std::unique_ptr<AsyncConsumer> /*owner*/) {
    auto pumps = co_await open_inbox(receive);
    struct Detach {
        Inbox& inbox;
        ~Detach() { inbox.detach(); }
    } detach{*inbox_};

    std::exception_ptr failure;
    for (;;) {
        try {
            while (inbox_->items.empty()) {
                co_await inbox_->not_empty.wait();
            }
        } catch (...) {
            failure = std::current_exception(); // cancelled
            break;
        }
        if (!co_await handle_batch(failure)) {
            break;
        }
    }
    co_await end_loop(std::move(pumps), failure);
}

// The items queued now: false when the consumer is to stop (`failure` set when a handler
// failed).
awaitable<bool> AsyncConsumer::handle_batch(std::exception_ptr& failure) {
    bool go_on = false;
    try {
        go_on = co_await handle_items();
    } catch (StopConsumer const&) {
    } catch (RequestAborted const&) {
        // an HTTP client left mid-response: the end, not a failure
    } catch (...) {
        failure = std::current_exception();
    }
    co_return go_on;
}

// The consumer's end: its error path or on_finish(), then its inputs are let go. The pumps'
// completion handlers run on this strand and refer to `pumps`, which outlives them because
// this frame waits for them to end.
awaitable<void> AsyncConsumer::end_loop(std::unique_ptr<Pumps> pumps, std::exception_ptr failure) {
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

    inbox_->detach();
    if (pumps) {
        pumps->stop_client.emit(net::cancellation_type::terminal);
        pumps->stop_layer.emit(net::cancellation_type::terminal);
        while (pumps->running > 0) {
            co_await pumps->done.wait();
        }
    }
    if (escaped) {
        std::rethrow_exception(escaped);
    }
}

// The items queued now, in order: false when the consumer is to stop.
awaitable<bool> AsyncConsumer::handle_items() {
    std::size_t handled = 0;
    do {
        // A client whose frames are all queued must not keep this thread from every other
        // connection: let the others run now and then.
        if (++handled % 32 == 0) {
            co_await net::post(executor_, net::use_awaitable);
        }
        auto item = inbox_->take_front();
        inbox_->not_full.notify();
        if (auto fn = blocking_item(item)) {
            co_await run_blocking_batch(std::move(fn));
        } else if (auto* ev = std::get_if<Event>(&item)) {
            co_await on_event(std::move(*ev));
        } else if (auto* m = std::get_if<Message>(&item)) {
            co_await dispatch(*m);
        } else {
            std::rethrow_exception(std::get<std::exception_ptr>(item));
        }
        if (stop_requested_) {
            co_return false;
        }
    } while (!inbox_->items.empty());
    // Waiting for the next item: an idle connection keeps no inbox storage.
    decltype(inbox_->items)().swap(inbox_->items);
    co_return true;
}

} // namespace canal
