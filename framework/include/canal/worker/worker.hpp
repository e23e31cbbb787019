// Worker and run_worker(): applications fed by named channels of the layer (channels.worker
// and `manage.py runworker CHANNEL...`).
#pragma once

#include <canal/core/application.hpp>
#include <canal/core/net.hpp>
#include <canal/layers/channel_layer.hpp>
#include <canal/server/settings.hpp>

#include <memory>
#include <string>
#include <vector>

namespace canal {

/**
 * Listens on named channels of a channel layer and hands their messages to an application
 * (Channels' Worker).
 *
 * For each channel, the first message starts an application instance with the scope
 * `{type = "channel", channel = NAME, channel_layer}`; that instance receives the
 * messages of its channel, in order, as ChannelMessage events (a consumer dispatches them
 * by `"type"` to its on() handlers, sync consumers' on the handler pool). An instance that
 * ends, or fails (logged), is replaced by a new one at the channel's next message, as in
 * Channels. A message without a `"type"` is logged and dropped. An instance cannot send
 * events: it has no client (sending one is an error); it talks through the layer.
 *
 * @par Thread safety
 * start() once; stop() from any thread, while the context given to start() exists. The
 * listeners live with that context: the Worker may be destroyed before or after it.
 */
class Worker {
public:
    /**
     * @param app the application: usually a ChannelNameRouter, or a ProtocolTypeRouter with
     *        one under `"channel"`.
     * @param channels the channels to listen on (at least one; no `!` channels).
     * @param layer the layer the messages come through (the alias "default").
     * @param others named layers besides it, for get_channel_layer(scope, alias) and
     *        consumers' `channel_layer_alias` (Settings::channel_layers).
     *
     * Throws std::invalid_argument when there is no channel or no layer, a name is not a
     * channel a worker can listen on, or a channel is missing from the application's
     * ChannelNameRouter (when it can be seen: directly, or under a ProtocolTypeRouter).
     */
    Worker(Application app, std::vector<std::string> channels,
           std::shared_ptr<ChannelLayer> layer, ChannelLayers const& others = {});
    ~Worker();
    Worker(Worker const&) = delete;
    Worker& operator=(Worker const&) = delete;

    /**
     * Starts a listener per channel on `ex`'s execution context, each on its own strand
     * (sync handlers run on that context's handler pool). Returns at once.
     */
    void start(net::any_io_executor const& ex);

    /**
     * Asks every listener to stop: an instance ends after its current handler and the
     * messages already handed to it. The context's run() returns once all have ended.
     */
    void stop();

    /** The channels listened on. */
    [[nodiscard]] std::vector<std::string> const& channels() const noexcept;

    /** Listeners that have not ended yet (0 before start() and after they stopped). */
    [[nodiscard]] std::size_t running() const noexcept;

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

/**
 * Channels' `runworker CHANNEL...`: runs a Worker for `channels` until SIGINT, SIGTERM or
 * SIGHUP (taken as canal::run takes them).
 *
 * Uses `settings.channel_layer`, or builds the layer `settings.layer` names (a worker on the
 * in-memory layer only sees its own process's messages); `settings.threads` I/O threads
 * and `settings.handler_threads` threads for sync handlers. Prints
 * `canal: worker listening on channels NAME, ...` to stdout once listening. On a signal it
 * stops the worker and waits up to `settings.shutdown_timeout` for the instances.
 *
 * @return 0 after a signal, 1 when the layer cannot be built, 2 for invalid settings or
 *         channels (the reason is printed to stderr).
 */
int run_worker(Application app, std::vector<std::string> channels, Settings settings);

} // namespace canal
