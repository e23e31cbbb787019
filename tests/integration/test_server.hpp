// Shared helpers of the integration tests: an in-process server on 127.0.0.1 and a free port,
// a probe that consumers report to, and a way to run a layer call from the test thread.
#pragma once

#include "support/async_run.hpp"
#include "support/ws_client.hpp"

#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/server/server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace canal::test {

using namespace std::chrono_literals;

/** Settings of a test server: loopback, a free port, two I/O threads. */
inline Settings test_settings() {
    Settings s;
    s.host = "127.0.0.1";
    s.port = 0;
    s.threads = 2;
    return s;
}

/** A canal::Server running `app` for the lifetime of the object (stopped and joined after). */
class TestServer {
public:
    explicit TestServer(Application app, Settings settings = test_settings()) {
        if (!settings.channel_layer) {
            settings.channel_layer = std::make_shared<InMemoryChannelLayer>();
        }
        layer_ = settings.channel_layer;
        server_ = std::make_unique<Server>(std::move(app), std::move(settings));
        server_->start();
    }
    ~TestServer() {
        server_->stop();
        server_->wait();
    }
    TestServer(TestServer const&) = delete;
    TestServer& operator=(TestServer const&) = delete;

    [[nodiscard]] unsigned short port() const noexcept { return server_->port(); }
    [[nodiscard]] Server& server() noexcept { return *server_; }
    [[nodiscard]] ChannelLayer& layer() const noexcept { return *layer_; }

    /** A websocket to this server. */
    [[nodiscard]] ConnectResult ws(std::string const& target,
                                   ConnectOptions const& options = {}) const {
        return ws_connect("127.0.0.1", port(), target, options);
    }
    /** `GET target` on this server. */
    [[nodiscard]] HttpResponse get(std::string const& target) const {
        return http_get("127.0.0.1", port(), target);
    }
    /** A raw TCP connection to this server. */
    [[nodiscard]] std::unique_ptr<RawTcp> raw() const {
        return std::make_unique<RawTcp>("127.0.0.1", port());
    }

private:
    std::shared_ptr<ChannelLayer> layer_;
    std::unique_ptr<Server> server_;
};

// run_sync(): support/async_run.hpp.

/**
 * What test consumers report from their handlers (any thread), and what tests wait for
 * with a deadline: named events with an integer value, in the order they happened.
 */
class Probe {
public:
    void record(std::string event, int value = 0) {
        {
            std::lock_guard lock{mutex_};
            events_.emplace_back(std::move(event), value);
        }
        cv_.notify_all();
    }

    /** The value of the first `event` recorded, waiting up to `timeout` for it. */
    std::optional<int> wait_for(std::string const& event, std::chrono::milliseconds timeout = 5s) {
        std::unique_lock lock{mutex_};
        std::optional<int> found;
        cv_.wait_for(lock, timeout, [&] {
            for (auto const& [name, value] : events_) {
                if (name == event) {
                    found = value;
                    return true;
                }
            }
            return false;
        });
        return found;
    }

    /** How many `event`s were recorded so far. */
    std::size_t count(std::string const& event) const {
        std::lock_guard lock{mutex_};
        std::size_t n = 0;
        for (auto const& e : events_) {
            n += e.first == event ? 1 : 0;
        }
        return n;
    }

    /** The events so far, in order: `"name=value name=value"` for failure messages. */
    std::string history() const {
        std::lock_guard lock{mutex_};
        std::string out;
        for (auto const& [name, value] : events_) {
            out += (out.empty() ? "" : " ") + name + "=" + std::to_string(value);
        }
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::pair<std::string, int>> events_;
};

/** Polls `condition` until it holds or `timeout` passes (for counters without a notification). */
template <typename F>
bool eventually(F&& condition, std::chrono::milliseconds timeout = 5s) {
    auto const deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

} // namespace canal::test
