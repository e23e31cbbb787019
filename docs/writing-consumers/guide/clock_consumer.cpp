// ClockConsumer: a coroutine started in connect() sends a layer message to the consumer's own
// channel at every tick; the consumer's handler, in its turn, sends the tick to the client.
#include "guide/clock_consumer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/json/object.hpp>

#include <exception>
#include <iostream>
#include <string>
#include <utility>

namespace {

// It holds its own references to what it uses (not the consumer): it may outlive it by a turn.
canal::awaitable<void> tick_loop(std::shared_ptr<ClockConsumer::Ticker> ticker,
                                 std::chrono::milliseconds period,
                                 std::shared_ptr<canal::ChannelLayer> layer, std::string channel) {
    while (!ticker->stopped) {
        ticker->timer.expires_after(period);
        auto [ec] = co_await ticker->timer.async_wait(canal::use_nothrow);
        if (ec || ticker->stopped) {
            co_return; // stopped by disconnect() or the destructor
        }
        canal::Message tick{{"type", "clock.tick"}};
        try {
            co_await layer->send(channel, std::move(tick));
        } catch (canal::ChannelFull const&) {
            // The consumer is behind: this tick is dropped, the next one will do.
        }
    }
}

} // namespace

ClockConsumer::ClockConsumer(std::chrono::milliseconds period) : period_(period) {
    on("clock.tick", &ClockConsumer::clock_tick);
}

ClockConsumer::~ClockConsumer() {
    if (ticker_) {
        ticker_->stop();
    }
}

canal::awaitable<void> ClockConsumer::connect() {
    co_await accept();
    ticker_ = std::make_shared<Ticker>(executor());
    auto loop = tick_loop(ticker_, period_, scope().channel_layer, channel_name());
    canal::net::co_spawn(executor(), std::move(loop), [](std::exception_ptr error) {
        try {
            if (error) {
                std::rethrow_exception(error);
            }
        } catch (std::exception const& e) {
            std::cerr << "clock: the tick loop failed: " << e.what() << "\n";
        }
    });
}

canal::awaitable<void> ClockConsumer::disconnect(int /*code*/) {
    if (ticker_) {
        ticker_->stop();
    }
    co_return;
}

canal::awaitable<void> ClockConsumer::clock_tick(canal::Message const& /*event*/) {
    ++ticks_;
    boost::json::object out{{"tick", ticks_}};
    co_await send_json(std::move(out));
}
