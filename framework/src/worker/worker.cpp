// Worker: one listener per channel, feeding one application instance at a time (Channels
// starts an instance per channel at its first message and keeps it for the next ones).
#include <canal/worker/worker.hpp>

#include <canal/core/errors.hpp>
#include <canal/routing/channel_name_router.hpp>
#include <canal/routing/protocol_type_router.hpp>

#include "detail/ascii.hpp"
#include "detail/log.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <utility>

namespace canal {

namespace {

// The ChannelNameRouter the worker's messages go through, when it can be seen.
ChannelNameRouter const* channel_router_of(Application const& app) {
    if (auto const* router = app.target<ChannelNameRouter>()) {
        return router;
    }
    if (auto const* types = app.target<ProtocolTypeRouter>()) {
        Application const* channel_app = types->application_for("channel");
        if (channel_app == nullptr) {
            throw std::invalid_argument("worker: the application is a ProtocolTypeRouter without "
                                        "a \"channel\" entry: add one (a ChannelNameRouter)");
        }
        return channel_app->target<ChannelNameRouter>();
    }
    return nullptr;
}

awaitable<void> refuse_send(std::string channel) {
    throw Error("the worker application for channel '" + channel +
                "' sent an event, but a \"channel\" scope has no client: send through the "
                "channel layer instead");
    co_return;
}

// Listens on one channel and runs its application instances, one at a time, on one strand
// (the instance's own coroutines run there too, so the members need no lock).
class ChannelListener {
public:
    ChannelListener(net::any_io_executor const& ex, Application const& app, std::string channel,
                    std::shared_ptr<ChannelLayer> layer,
                    std::shared_ptr<ChannelLayers const> layers)
        : strand_(net::make_strand(ex)), app_(app), channel_(std::move(channel)),
          layer_(std::move(layer)), layers_(std::move(layers)), pause_(strand_) {}

    [[nodiscard]] net::any_io_executor const& strand() const noexcept { return strand_; }
    [[nodiscard]] std::string const& channel() const noexcept { return channel_; }

    awaitable<void> run(std::shared_ptr<ChannelListener> self);
    awaitable<Event> receive_event();

    // On the strand.
    void stop() {
        stopping_ = true;
        stop_signal_.emit(net::cancellation_type::terminal);
        pause_.cancel();
    }

private:
    awaitable<std::optional<Message>> next();

    net::any_io_executor strand_;
    Application app_;
    std::string channel_;
    std::shared_ptr<ChannelLayer> layer_;
    std::shared_ptr<ChannelLayers const> layers_;
    net::cancellation_signal stop_signal_;
    net::steady_timer pause_;
    bool stopping_ = false;
    // The message that started the current instance, handed to it first.
    std::optional<Message> pending_;
};

// The channel's next message with a type, or nothing once stopping. Layer failures (Redis
// down) are logged and retried: a worker that stopped listening without a word would be worse.
awaitable<std::optional<Message>> ChannelListener::next() {
    for (;;) {
        if (stopping_) {
            co_return std::nullopt;
        }
        // The receive is cancelled by stop(), and also when whoever awaits this is (an
        // instance's client pump when the instance ends): forward that to the same signal.
        auto outer = (co_await net::this_coro::cancellation_state).slot();
        if (outer.is_connected()) {
            outer.assign([this](net::cancellation_type type) { stop_signal_.emit(type); });
        }
        auto token = net::bind_cancellation_slot(stop_signal_.slot(), use_nothrow);
        auto receive = layer_->receive_until_cancelled(channel_);
        auto result = co_await net::co_spawn(strand_, std::move(receive), token);
        if (outer.is_connected()) {
            outer.clear();
        }
        std::exception_ptr failure = std::get<0>(result);
        std::optional<Message> message = std::move(std::get<1>(result));
        if (failure) {
            detail::log_exception("worker: receiving from channel '" + channel_ +
                                      "' failed; trying again in 1 s",
                                  failure);
            pause_.expires_after(std::chrono::seconds(1));
            co_await pause_.async_wait(use_nothrow);
            continue;
        }
        if (!message) {
            co_return std::nullopt; // stopped
        }
        if (message->type().empty()) {
            detail::log_error("worker: dropped a message without a \"type\" on channel '" +
                              channel_ + "': every message needs one to find its handler");
            continue;
        }
        co_return message;
    }
}

awaitable<Event> ChannelListener::receive_event() {
    std::optional<Message> message;
    if (pending_) {
        message = std::move(pending_);
        pending_.reset();
    } else {
        message = co_await next();
    }
    if (!message) {
        throw StopConsumer(); // the instance ends after what it already has
    }
    Event event = ChannelMessage{std::move(*message)};
    co_return event;
}

Receive receive_from(std::shared_ptr<ChannelListener> const& listener) {
    return [listener] { return listener->receive_event(); };
}

Send refuse_sends(std::string const& channel) {
    return [channel](Event /*event*/) { return refuse_send(channel); };
}

awaitable<void> ChannelListener::run(std::shared_ptr<ChannelListener> self) {
    for (;;) {
        pending_ = co_await next();
        if (!pending_) {
            co_return;
        }
        Scope scope;
        scope.type = "channel";
        scope.channel = channel_;
        scope.channel_layer = layer_;
        scope.channel_layers = layers_;
        Receive receive = receive_from(self);
        Send send = refuse_sends(channel_);
        auto instance = app_(std::move(scope), std::move(receive), std::move(send));
        std::exception_ptr failure;
        try {
            co_await std::move(instance);
        } catch (StopConsumer const&) {
            // ended quietly
        } catch (...) {
            failure = std::current_exception();
        }
        pending_.reset();
        if (failure) {
            detail::log_exception("worker: the application for channel '" + channel_ +
                                      "' failed (the channel's next message starts a new one)",
                                  failure);
        }
    }
}

awaitable<void> run_listener(std::shared_ptr<ChannelListener> listener) {
    co_await listener->run(listener);
}

} // namespace

struct Worker::Impl {
    Application app;
    std::vector<std::string> channels;
    std::shared_ptr<ChannelLayer> layer;
    std::shared_ptr<ChannelLayers const> layers;
    // Weak: a listener lives in its coroutine's frame, so that it (and its I/O objects) goes
    // with the io_context that runs it, even when the Worker outlives that context.
    std::vector<std::weak_ptr<ChannelListener>> listeners;
    std::atomic<std::size_t> running{0};
};

Worker::Worker(Application app, std::vector<std::string> channels,
               std::shared_ptr<ChannelLayer> layer, ChannelLayers const& others)
    : impl_(std::make_shared<Impl>()) {
    if (!others.empty()) {
        auto all = std::make_shared<ChannelLayers>(others);
        (*all)[std::string(default_layer_alias)] = layer;
        impl_->layers = std::move(all);
    }
    if (!app) {
        throw std::invalid_argument("worker: the application is empty");
    }
    if (!layer) {
        throw std::invalid_argument("worker: there is no channel layer: a worker receives its "
                                    "messages through one (e.g. --layer redis://HOST:PORT)");
    }
    if (channels.empty()) {
        throw std::invalid_argument("worker: no channel to listen on: name at least one");
    }
    ChannelNameRouter const* router = channel_router_of(app);
    for (auto const& channel : channels) {
        if (!ChannelLayer::is_valid_channel_name(channel) ||
            channel.find('!') != std::string::npos) {
            throw std::invalid_argument(
                "worker: '" + channel +
                "' is not a channel a worker can listen on: use ASCII letters, digits, '-', "
                "'_' and '.' (no '!'), under 100 characters");
        }
        if (router != nullptr && !router->routes(channel)) {
            throw std::invalid_argument("worker: no application for channel '" + channel +
                                        "': the ChannelNameRouter routes " +
                                        detail::quoted_list(router->channels()));
        }
    }
    impl_->app = std::move(app);
    impl_->channels = std::move(channels);
    impl_->layer = std::move(layer);
}

Worker::~Worker() = default;

void Worker::start(net::any_io_executor const& ex) {
    if (!impl_->listeners.empty()) {
        throw std::logic_error("worker: start() was already called");
    }
    std::vector<std::shared_ptr<ChannelListener>> listeners;
    for (auto const& channel : impl_->channels) {
        listeners.push_back(
            std::make_shared<ChannelListener>(ex, impl_->app, channel, impl_->layer, impl_->layers));
        impl_->listeners.push_back(listeners.back());
    }
    for (auto const& listener : listeners) {
        ++impl_->running;
        net::co_spawn(listener->strand(), run_listener(listener),
                      [impl = impl_, channel = listener->channel()](std::exception_ptr e) {
                          if (e) {
                              detail::log_exception("worker: listener of channel '" + channel +
                                                        "'",
                                                    e);
                          }
                          --impl->running;
                      });
    }
}

void Worker::stop() {
    for (auto const& weak : impl_->listeners) {
        if (auto listener = weak.lock()) {
            net::post(listener->strand(), [listener] { listener->stop(); });
        }
    }
}

std::vector<std::string> const& Worker::channels() const noexcept { return impl_->channels; }

std::size_t Worker::running() const noexcept { return impl_->running.load(); }

} // namespace canal
