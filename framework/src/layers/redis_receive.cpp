// The Redis layer's receive side: one loop per shard pops the messages of this process's
// channels and hands each to its local channel; receive() on a normal channel pops it
// directly on a connection of its own.
#include "layers/redis_layer_state.hpp"

#include "detail/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include <cstdio>
#include <optional>
#include <utility>

namespace canal::detail {

namespace {

using redis::Command;
using redis::Reply;

// BZPOPMIN's timeout argument: seconds with 3 decimals.
std::string poll_seconds(std::chrono::milliseconds poll) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.3f", std::chrono::duration<double>(poll).count());
    return seconds;
}

} // namespace

awaitable<void> RedisLayerState::unblock(std::shared_ptr<RedisLayerState> self, std::size_t shard,
                                         long long id) {
    Command command{"CLIENT", "UNBLOCK", std::to_string(id)};
    co_await self->shards[shard].client->command(std::move(command));
}

void RedisLayerState::ensure_receive_loop(std::size_t index) {
    auto& shard = shards[index];
    if (shard.loop_running || stopping) {
        return;
    }
    shard.loop_running = true;
    shard.receiver = std::make_unique<redis::Client>(ex, shard.url, client_options);
    shard.pause = std::make_unique<net::steady_timer>(ex);
    net::co_spawn(ex, receive_loop(shared_from_this(), index),
                  [](std::exception_ptr ep) { log_exception("redis layer: receive loop", ep); });
}

// The process's receive loop for one shard: pops messages for this process's channels
// and hands each to its local channel without waiting for any consumer.
awaitable<void> RedisLayerState::receive_loop(std::shared_ptr<RedisLayerState> self,
                                              std::size_t index) {
    auto& shard = self->shards[index];
    auto& client = *shard.receiver;
    auto& pause = *shard.pause;
    auto backoff = std::chrono::milliseconds(50);
    bool reported = false;
    auto const poll = self->settings.receive_poll;
    auto const seconds = poll_seconds(poll);
    while (!self->stopping) {
        Command pop{"BZPOPMIN"};
        pop.insert(pop.end(), shard.local_keys.begin(), shard.local_keys.end());
        pop.push_back(seconds);
        Reply reply;
        std::string failure;
        try {
            if (!client.connected()) {
                co_await client.connect();
            }
            if (shard.receiver_id == 0) {
                Command id{"CLIENT", "ID"};
                shard.receiver_id = (co_await client.command(std::move(id))).integer;
            }
            reply = co_await client.command(std::move(pop), poll);
        } catch (std::exception const& e) {
            failure = e.what();
            shard.receiver_id = 0; // a new connection gets a new id
        }
        if (self->stopping) {
            break;
        }
        if (!failure.empty()) {
            if (!reported) {
                log_warning("redis layer: receive loop: " + failure);
                reported = true;
            }
            pause.expires_after(backoff);
            co_await pause.async_wait(use_nothrow);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
            continue;
        }
        if (reported) {
            log_info("redis layer: receive loop on " + shard.url.address() + " is back");
            reported = false;
        }
        backoff = std::chrono::milliseconds(50);
        if (reply.kind != Reply::Kind::array || reply.elements.size() < 3) {
            continue;
        }
        // The first message waits for the first drain: what Redis holds behind it (the rest
        // of a sender's pipelined group_sends) reaches the consumers in the same turn, so each
        // writes them to its client together instead of one write per message.
        std::optional<std::pair<std::string, std::string>> first;
        first.emplace(std::move(reply.elements[1].str), std::move(reply.elements[0].str));
        // Drain what else is queued without blocking, in one round trip per batch.
        for (;;) {
            std::vector<Command> drain;
            // new_channel() may add keys while the pipeline runs: name the ones asked.
            auto const asked = shard.local_keys;
            for (auto const& key : asked) {
                Command zpop{"ZPOPMIN", key, "64"};
                drain.push_back(std::move(zpop));
            }
            std::vector<Reply> batches;
            bool lost = false;
            try {
                batches = co_await client.pipeline(std::move(drain));
            } catch (std::exception const&) {
                shard.receiver_id = 0;
                lost = true;
            }
            if (first) {
                co_await self->deliver(first->first, first->second);
                first.reset();
            }
            if (lost) {
                break;
            }
            std::size_t got = 0;
            for (std::size_t b = 0; b < batches.size() && b < asked.size(); ++b) {
                auto const& batch = batches[b];
                for (std::size_t i = 0; i + 1 < batch.elements.size(); i += 2) {
                    co_await self->deliver(batch.elements[i].str, asked[b]);
                    ++got;
                }
            }
            if (got == 0 || self->stopping) {
                break;
            }
        }
    }
    shard.loop_running = false;
}

// Hands a message from Redis to its local channels; the full ones are returned, and the
// receive loop waits for their room before it pops more (so Redis holds the backlog and
// the senders' group_send feels it), up to backpressure_timeout.
std::optional<RedisLayerState::Blocked> RedisLayerState::dispatch(std::string const& payload,
                                                                  std::string const& key) {
    auto const opened = open_payload(payload, key);
    if (!opened) {
        return std::nullopt;
    }
    DecodedPayload decoded;
    try {
        decoded = decode_payload(*opened);
    } catch (std::exception const& e) {
        if (malformed.fetch_add(1, std::memory_order_relaxed) < 10) {
            log_warning(std::string("redis layer: skipped a message: ") + e.what());
        }
        return std::nullopt;
    }
    received.fetch_add(1, std::memory_order_relaxed);
    Message message(std::move(decoded.message));
    std::optional<Blocked> blocked;
    for (auto const& channel : decoded.channels) {
        if (!offer_local(*local, channel, message)) {
            if (!blocked) {
                blocked.emplace(Blocked{message, {}});
            }
            blocked->channels.push_back(channel);
        }
    }
    return blocked;
}

awaitable<void> RedisLayerState::deliver(std::string const& payload, std::string const& key) {
    auto blocked = dispatch(payload, key);
    if (blocked) {
        co_await offer_local_waiting(local, std::move(blocked->channels),
                                     std::move(blocked->message));
    }
}

// A receive() on a channel that is not process-specific: popped from Redis directly,
// on a connection of its own (BZPOPMIN blocks the connection).
awaitable<Message> RedisLayerState::receive_normal_op(std::shared_ptr<RedisLayerState> self,
                                                      std::string channel) {
    auto const cancellation = co_await net::this_coro::cancellation_state;
    auto const index = self->receive_rr++ % self->shard_count();
    redis::Client client(self->ex, self->shards[index].url, self->client_options);
    co_await client.connect();
    auto const key = self->settings.prefix + channel;
    auto const poll = self->settings.receive_poll;
    auto const seconds = poll_seconds(poll);
    for (;;) {
        Command pop{"BZPOPMIN", key, seconds};
        auto reply = co_await client.command(std::move(pop), poll);
        if (reply.kind == Reply::Kind::array && reply.elements.size() >= 3) {
            auto const opened = self->open_payload(reply.elements[1].str, key);
            if (opened) {
                auto decoded = decode_payload(*opened);
                co_return Message(std::move(decoded.message));
            }
            // Not decryptable: dropped, logged and counted; wait for the next one.
        }
        if (cancellation.cancelled() != net::cancellation_type::none || self->stopping) {
            throw boost::system::system_error(net::error::operation_aborted);
        }
    }
}

} // namespace canal::detail
