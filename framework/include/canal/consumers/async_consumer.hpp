// AsyncConsumer: runs one connection's handlers in order and dispatches layer messages by type.
#pragma once

#include <canal/core/application.hpp>
#include <canal/core/errors.hpp>
#include <canal/core/message.hpp>
#include <canal/layers/channel_layer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace canal {

/**
 * Base of the coroutine consumers (channels.consumer.AsyncConsumer).
 *
 * One instance serves one connection. Client events and channel layer messages arrive
 * in one inbox and are handled one at a time, in arrival order, on the connection's
 * strand: handlers never run concurrently. Layer messages are dispatched by their
 * `"type"` to the handler registered with on(); a message without a handler is logged
 * and ends the connection (websocket: close 1011).
 */
class AsyncConsumer {
public:
    /** A layer message handler. */
    using Handler = std::function<awaitable<void>(Message const&)>;

    AsyncConsumer();
    virtual ~AsyncConsumer();
    AsyncConsumer(AsyncConsumer const&) = delete;
    AsyncConsumer& operator=(AsyncConsumer const&) = delete;

    /**
     * Runs the consumer for one connection (what as_app() calls). The scope and `send` are
     * taken at once; the returned awaitable runs the handlers.
     */
    awaitable<void> run(Scope scope, Receive receive, Send send);

    /**
     * run() for a consumer the returned awaitable owns: `consumer` is deleted when it has
     * finished (as_app() runs each connection's consumer this way).
     */
    static awaitable<void> run_owned(std::unique_ptr<AsyncConsumer> consumer, Scope scope,
                                     Receive receive, Send send);

    /** Client events, and layer messages, the inbox holds (each) before their producer waits. */
    static constexpr std::size_t inbox_capacity = 64;

protected:
    /**
     * The layer this consumer uses (Channels' `channel_layer_alias`): "default" is
     * Settings::channel_layer, another alias one of Settings::channel_layers (canal::run:
     * `--layer-alias ALIAS=URL`). Set it in the constructor. An alias the application does
     * not have ends the consumer with an error naming the ones it has.
     */
    std::string channel_layer_alias{default_layer_alias};

    /** Registers the handler for layer messages of `type` (e.g. `"chat.message"`). */
    void on(std::string type, Handler handler);

    /** A blocking layer message handler (the sync consumers' handlers). */
    using BlockingHandler = std::function<void(Message const&)>;

    /**
     * Registers a blocking handler for `type` that runs on the handler pool. Layer messages
     * of such types queued one after another run in one trip to the pool, in order.
     */
    void on_blocking(std::string type, BlockingHandler handler);

    /** Registers a member function: `on("chat.message", &ChatConsumer::chat_message)`. */
    template <typename C>
    void on(std::string type, awaitable<void> (C::*fn)(Message const&)) {
        static_assert(std::is_base_of_v<AsyncConsumer, C>);
        on(std::move(type), Handler{[this, fn](Message const& m) {
               return (static_cast<C*>(this)->*fn)(m);
           }});
    }

    /**
     * Any other handler: one error that says what a handler looks like (instead of the
     * overloads the compiler tried).
     */
    template <typename F>
        requires(!std::is_convertible_v<F, Handler>)
    void on(std::string /*type*/, F /*handler*/) {
        static_assert(sizeof(F) == 0,
                      "on(type, handler): a handler is a member function "
                      "`awaitable<void> name(canal::Message const&)` of an async consumer, "
                      "`void name(canal::Message const&)` of a sync consumer, or a callable "
                      "taking canal::Message const& and returning canal::awaitable<void>");
    }

    /** The connection's scope. */
    [[nodiscard]] Scope const& scope() const noexcept { return scope_; }

    /** The channel layer; throws canal::Error when the application has none. */
    [[nodiscard]] ChannelLayer& channel_layer() const;
    /** True when a channel layer is configured. */
    [[nodiscard]] bool has_channel_layer() const noexcept { return layer_ != nullptr; }
    /** This consumer's own channel name (empty without a layer). */
    [[nodiscard]] std::string const& channel_name() const noexcept { return channel_name_; }

    /** The executor (the connection's strand) the consumer's coroutines run on. */
    [[nodiscard]] net::any_io_executor const& executor() const noexcept { return executor_; }

    /** Sends an event to the server (ASGI's `send`). */
    awaitable<void> send_event(Event event);

    /**
     * From a handler thread (sync consumers): queues `event` for the server on the
     * consumer's strand without blocking. Events leave in the order posted, before the
     * consumer's next handler runs; events posted while earlier ones are still queued
     * go together (one hop to the strand for many).
     */
    void post_event_from_thread(Event event);

    /**
     * On the strand, before a handler is handed to the pool: events that handler posts
     * with post_event_from_thread() stay queued until release_posted_events() (a sync
     * consumer's accept() in connect() waits until the groups named in connect() are
     * joined, as the async style's does).
     */
    void hold_posted_events() noexcept { hold_posts_ = true; }

    /** On the strand: sends the events held since hold_posted_events(), in order. */
    awaitable<void> release_posted_events();

    /** Handles one client event; subclasses map events to their handlers. */
    virtual awaitable<void> on_event(Event event);

    /**
     * Sync consumers: the blocking work that handles `event` on the handler pool (moving
     * what it needs out of it), or an empty function to have on_event() handle it. Client
     * events and layer messages queued one after another run in one trip to the pool.
     */
    virtual std::function<void()> blocking_event(Event& event);

    /** Called when a handler threw (other than StopConsumer): clean up, then close. */
    virtual awaitable<void> on_error(std::exception_ptr error);

    /** Called once when the consumer ends without an error (StopConsumer or disconnect). */
    virtual awaitable<void> on_finish();

    /** Dispatches a layer message to its handler; throws NoHandler when none is registered. */
    awaitable<void> dispatch(Message const& message);

    /** Name of this consumer for logs (the scope's path). */
    [[nodiscard]] std::string describe() const;

    /**
     * Ends the consumer once the current handler returns, as StopConsumer does, without
     * an exception (for the framework's own paths: every connection ends this way).
     */
    void stop_after_this_handler() noexcept { stop_requested_ = true; }

private:
    struct Inbox;
    struct Outgoing;
    struct Pumps;
    awaitable<void> start(Scope scope, Receive receive, Send send,
                          std::unique_ptr<AsyncConsumer> owner);
    std::unique_ptr<Pumps> start_inputs(Receive& receive);
    std::unique_ptr<Pumps> spawn_inputs(Receive& receive);
    awaitable<std::unique_ptr<Pumps>> open_inbox(Receive& receive);
    awaitable<bool> handle_items();
    awaitable<bool> handle_batch(std::exception_ptr& failure);
    awaitable<void> end_loop(std::unique_ptr<Pumps> pumps, std::exception_ptr failure);
    awaitable<void> drain_outgoing();
    awaitable<void> client_pump(Receive receive);
    awaitable<void> layer_pump();
    awaitable<void> run_blocking_batch(std::function<void()> first);
    awaitable<void> run_loop(Receive receive, std::unique_ptr<AsyncConsumer> owner);
    std::function<void()> blocking_item(std::variant<Event, Message, std::exception_ptr>& item);

    Scope scope_;
    Send send_;
    std::shared_ptr<ChannelLayer> layer_;
    std::string channel_name_;
    // Vectors, not maps: a consumer registers a few types, and each consumer has its own.
    std::vector<std::pair<std::string, Handler>> handlers_;
    std::vector<std::pair<std::string, BlockingHandler>> blocking_;
    std::unique_ptr<Inbox> inbox_;
    std::once_flag outgoing_made_;
    std::unique_ptr<Outgoing> outgoing_;
    net::any_io_executor executor_;
    bool stop_requested_ = false;
    std::atomic<bool> hold_posts_{false};
};

namespace detail {
/** An awaitable that throws `error` when awaited. */
awaitable<void> throw_when_awaited(std::exception_ptr error);

// Not a coroutine: the consumer is built and started now, so that the frame that lasts for
// the connection (its handler loop's, which owns it) holds no copy of the scope.
template <typename T, typename... Args>
awaitable<void> run_consumer(Scope scope, Receive receive, Send send, Args... args) {
    try {
        return AsyncConsumer::run_owned(std::make_unique<T>(std::move(args)...), std::move(scope),
                                        std::move(receive), std::move(send));
    } catch (...) {
        return throw_when_awaited(std::current_exception());
    }
}
} // namespace detail

/**
 * An Application that runs a new `T` per connection (Channels' `Consumer.as_asgi()`).
 * `args` are copied into every instance's constructor.
 */
template <typename T, typename... Args>
Application as_app(Args... args) {
    return [... args = std::move(args)](Scope scope, Receive receive, Send send) {
        return detail::run_consumer<T, Args...>(std::move(scope), std::move(receive),
                                                std::move(send), args...);
    };
}

} // namespace canal
