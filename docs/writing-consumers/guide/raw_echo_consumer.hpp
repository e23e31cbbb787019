// RawEchoConsumer: the echo consumer written on the generic AsyncConsumer, event by event.
#pragma once

#include <canal/consumers/async_consumer.hpp>

class RawEchoConsumer : public canal::AsyncConsumer {
protected:
    canal::awaitable<void> on_event(canal::Event event) override;
};
