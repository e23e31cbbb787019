// ClockConsumer: a timer beside the handlers, whose ticks come in as layer messages.
#pragma once

#include <canal/consumers/async_websocket_consumer.hpp>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

class ClockConsumer : public canal::AsyncJsonWebsocketConsumer {
public:
    explicit ClockConsumer(std::chrono::milliseconds period);
    ~ClockConsumer() override;

    // What the background coroutine shares with the consumer; both run on its strand.
    struct Ticker {
        explicit Ticker(canal::net::any_io_executor executor) : timer(std::move(executor)) {}
        void stop() {
            stopped = true;
            timer.cancel();
        }
        boost::asio::steady_timer timer;
        bool stopped = false;
    };

protected:
    canal::awaitable<void> connect() override;
    canal::awaitable<void> disconnect(int code) override;
    canal::awaitable<void> clock_tick(canal::Message const& event);

private:
    std::chrono::milliseconds period_;
    std::shared_ptr<Ticker> ticker_;
    int ticks_ = 0;
};
