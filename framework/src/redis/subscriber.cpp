// Subscriber: a pub/sub connection that reconnects and resubscribes; parse_push() reads the
// RESP2 push arrays a subscribed connection receives.
#include "redis/subscriber.hpp"

#include "detail/log.hpp"
#include "redis/resp.hpp"

#include <canal/core/errors.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <deque>
#include <exception>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace canal::redis::detail {

using tcp = net::ip::tcp;

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
        return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    });
    return s;
}

std::string describe_error(boost::system::error_code ec) {
    if (ec == net::error::eof) {
        return "closed by the server";
    }
    return ec.message();
}

} // namespace

Push parse_push(Reply reply) {
    Push push;
    if (reply.kind == Reply::Kind::error) {
        push.kind = Push::Kind::error;
        push.payload = std::move(reply.str);
        return push;
    }
    if (reply.kind != Reply::Kind::array || reply.elements.empty() ||
        reply.elements.front().kind != Reply::Kind::string) {
        throw Error("Redis protocol error: a subscribed connection received a reply that is "
                    "not a pub/sub push array");
    }
    auto& e = reply.elements;
    auto const kind = lower(e.front().str);
    auto is_text = [](Reply const& r) {
        return r.kind == Reply::Kind::string || r.kind == Reply::Kind::status;
    };
    if (kind == "message" && e.size() == 3 && is_text(e[1]) && is_text(e[2])) {
        push.kind = Push::Kind::message;
        push.channel = std::move(e[1].str);
        push.payload = std::move(e[2].str);
        return push;
    }
    if ((kind == "subscribe" || kind == "unsubscribe") && e.size() == 3 &&
        e[2].kind == Reply::Kind::integer && (is_text(e[1]) || e[1].is_nil())) {
        push.kind = kind == "subscribe" ? Push::Kind::subscribe : Push::Kind::unsubscribe;
        push.channel = std::move(e[1].str);
        push.count = e[2].integer;
        return push;
    }
    if (kind == "pong") {
        push.kind = Push::Kind::pong;
        if (e.size() > 1) {
            push.payload = std::move(e[1].str);
        }
        return push;
    }
    throw Error("Redis protocol error: unexpected pub/sub push '" + kind.substr(0, 40) + "' with " +
                std::to_string(e.size()) + " elements");
}

struct Subscriber::Impl : std::enable_shared_from_this<Subscriber::Impl> {
    // Someone waiting for a SUBSCRIBE confirmation or for a connection attempt to end.
    struct Waiter {
        explicit Waiter(net::any_io_executor const& ex) : timer(ex) {
            timer.expires_at(net::steady_timer::time_point::max());
        }
        net::steady_timer timer;
        bool done = false;
        std::string failure;

        void finish(std::string why = {}) {
            if (!done) {
                done = true;
                failure = std::move(why);
                timer.cancel();
            }
        }
    };

    enum class State { idle, connecting, connected, closed };

    Impl(net::any_io_executor e, Url u, ClientOptions o, Handler h)
        : ex(std::move(e)), url(std::move(u)), options(o), name("Redis " + url.address()),
          on_message(std::move(h)), backoff(ex) {}

    net::any_io_executor ex;
    Url const url;
    ClientOptions const options;
    std::string const name;
    Handler on_message;

    State state = State::idle;
    bool running = false;
    bool ever_connected = false;
    std::uint64_t generation = 0;
    std::shared_ptr<tcp::socket> socket;
    std::string out;
    bool writing = false;
    std::set<std::string> wanted;
    std::set<std::string> confirmed;
    // One entry per SUBSCRIBE written, per channel, in order: null for a resubscription.
    std::map<std::string, std::deque<std::shared_ptr<Waiter>>> confirmations;
    std::vector<std::shared_ptr<Waiter>> attempt_waiters;
    std::string last_error = "not connected yet";
    net::steady_timer backoff;

    void ensure_running() {
        if (running || state == State::closed) {
            return;
        }
        running = true;
        state = State::connecting;
        net::co_spawn(ex, run(shared_from_this()), [](std::exception_ptr ep) {
            canal::detail::log_exception("redis subscriber", ep);
        });
    }

    void end_attempt() {
        auto waiters = std::move(attempt_waiters);
        attempt_waiters.clear();
        for (auto& w : waiters) {
            w->finish();
        }
    }

    void fail_confirmations(std::string const& why) {
        auto all = std::move(confirmations);
        confirmations.clear();
        for (auto& [channel, waiters] : all) {
            for (auto& w : waiters) {
                if (w) {
                    w->finish(why);
                }
            }
        }
    }

    // Closes the socket: the read loop ends and the run loop reconnects.
    void fail_connection(std::string const& reason) {
        last_error = reason;
        ++generation;
        if (socket) {
            boost::system::error_code ignored;
            socket->close(ignored);
        }
    }

    void close() {
        if (state == State::closed) {
            return;
        }
        state = State::closed;
        backoff.cancel();
        fail_connection("the subscriber is closed");
        fail_confirmations("the subscriber is closed");
        end_attempt();
        wanted.clear();
        confirmed.clear();
    }

    void write(Command const& cmd) {
        encode_command(cmd, out);
        if (writing || !socket || state != State::connected) {
            return;
        }
        writing = true;
        net::co_spawn(ex, write_loop(shared_from_this(), generation, socket),
                      [](std::exception_ptr ep) {
                          canal::detail::log_exception("redis subscriber: writer", ep);
                      });
    }

    static awaitable<void> write_loop(std::shared_ptr<Impl> self, std::uint64_t gen,
                                      std::shared_ptr<tcp::socket> socket) {
        std::string buffer;
        while (self->generation == gen && !self->out.empty()) {
            buffer.clear();
            buffer.swap(self->out);
            auto [ec, n] = co_await net::async_write(*socket, net::buffer(buffer), use_nothrow);
            if (self->generation != gen) {
                break;
            }
            if (ec) {
                self->fail_connection("write failed (" + describe_error(ec) + ")");
                break;
            }
        }
        if (self->generation == gen) {
            self->writing = false;
        }
    }

    // Connect, AUTH, SELECT, PING within connect_timeout; the failure, or empty.
    static awaitable<std::string> handshake(std::shared_ptr<Impl> self,
                                            std::shared_ptr<tcp::socket> socket,
                                            ReplyReader& reader) {
        auto timed_out = std::make_shared<bool>(false);
        auto resolver = std::make_shared<tcp::resolver>(self->ex);
        net::steady_timer watchdog(self->ex);
        watchdog.expires_after(self->options.connect_timeout);
        watchdog.async_wait([timed_out, socket, resolver](boost::system::error_code ec) {
            if (ec) {
                return;
            }
            *timed_out = true;
            boost::system::error_code ignored;
            socket->close(ignored);
            resolver->cancel();
        });
        std::string failure;
        auto const port = std::to_string(self->url.port);
        auto [rec, endpoints] = co_await resolver->async_resolve(self->url.host, port, use_nothrow);
        if (rec) {
            failure = "cannot resolve the host: " + rec.message();
        } else {
            auto [cec, ep] = co_await net::async_connect(*socket, endpoints, use_nothrow);
            if (cec) {
                failure = "cannot connect: " + cec.message();
            }
        }
        if (failure.empty()) {
            boost::system::error_code ignored;
            socket->set_option(tcp::no_delay(true), ignored);
            std::vector<Command> hello;
            if (!self->url.password.empty()) {
                Command auth{"AUTH"};
                if (!self->url.username.empty()) {
                    auth.push_back(self->url.username);
                }
                auth.push_back(self->url.password);
                hello.push_back(std::move(auth));
            }
            if (self->url.db != 0) {
                Command select{"SELECT", std::to_string(self->url.db)};
                hello.push_back(std::move(select));
            }
            Command ping{"PING"};
            hello.push_back(std::move(ping));
            std::string request;
            for (auto const& c : hello) {
                encode_command(c, request);
            }
            auto [wec, wn] = co_await net::async_write(*socket, net::buffer(request), use_nothrow);
            if (wec) {
                failure = "cannot connect: " + describe_error(wec);
            }
            std::vector<char> buffer(4096);
            std::size_t answered = 0;
            while (failure.empty() && answered < hello.size()) {
                auto [ec, n] = co_await socket->async_read_some(net::buffer(buffer), use_nothrow);
                if (ec) {
                    failure = "cannot connect: " + describe_error(ec);
                    break;
                }
                try {
                    reader.feed(buffer.data(), n);
                    while (answered < hello.size()) {
                        auto reply = reader.next();
                        if (!reply) {
                            break;
                        }
                        if (reply->is_error()) {
                            failure = hello[answered].front() + " refused: " + reply->str;
                            break;
                        }
                        ++answered;
                    }
                } catch (std::exception const& e) {
                    failure = e.what();
                }
            }
        }
        watchdog.cancel();
        if (*timed_out) {
            failure = "cannot connect: no answer within " +
                      std::to_string(self->options.connect_timeout.count()) + " ms";
        }
        co_return failure;
    }

    // Reads pushes until the connection fails; the reason.
    static awaitable<std::string> read_loop(std::shared_ptr<Impl> self, std::uint64_t gen,
                                            std::shared_ptr<tcp::socket> socket,
                                            ReplyReader& reader) {
        std::vector<char> buffer(64 * 1024);
        for (;;) {
            // Replies that arrived with the handshake's come first.
            std::string failure;
            try {
                while (auto reply = reader.next()) {
                    if (self->generation != gen) {
                        break;
                    }
                    self->handle(parse_push(std::move(*reply)));
                }
            } catch (std::exception const& e) {
                failure = e.what();
            }
            if (!failure.empty()) {
                co_return failure;
            }
            if (self->generation != gen) {
                co_return self->last_error;
            }
            auto [ec, n] = co_await socket->async_read_some(net::buffer(buffer), use_nothrow);
            if (self->generation != gen) {
                co_return self->last_error;
            }
            if (ec) {
                co_return "connection lost (" + describe_error(ec) + ")";
            }
            try {
                reader.feed(buffer.data(), n);
            } catch (std::exception const& e) {
                failure = e.what();
            }
            if (!failure.empty()) {
                co_return failure;
            }
        }
    }

    void handle(Push push) {
        switch (push.kind) {
        case Push::Kind::message:
            if (on_message) {
                try {
                    on_message(push.channel, push.payload);
                } catch (std::exception const& e) {
                    canal::detail::log_error(name +
                                             ": a pub/sub message handler failed: " + e.what());
                }
            }
            break;
        case Push::Kind::subscribe: {
            auto it = confirmations.find(push.channel);
            std::shared_ptr<Waiter> waiter;
            if (it != confirmations.end()) {
                waiter = std::move(it->second.front());
                it->second.pop_front();
                if (it->second.empty()) {
                    confirmations.erase(it);
                }
            }
            if (wanted.contains(push.channel)) {
                confirmed.insert(push.channel);
            }
            if (waiter) {
                waiter->finish();
            }
            break;
        }
        case Push::Kind::unsubscribe:
        case Push::Kind::pong:
            break;
        case Push::Kind::error:
            canal::detail::log_warning(name +
                                       ": subscriber connection got an error: " + push.payload);
            break;
        }
    }

    static awaitable<void> run(std::shared_ptr<Impl> self) {
        auto delay = self->options.min_backoff;
        bool reported = false;
        while (self->state != State::closed) {
            self->state = State::connecting;
            auto const gen = ++self->generation;
            auto socket = std::make_shared<tcp::socket>(self->ex);
            self->socket = socket;
            self->writing = false;
            self->out.clear();
            ReplyReader reader;
            auto failure = co_await handshake(self, socket, reader);
            if (self->state == State::closed) {
                break;
            }
            if (failure.empty() && self->generation != gen) {
                failure = self->last_error;
            }
            if (!failure.empty()) {
                self->last_error = failure;
                self->state = State::idle;
                boost::system::error_code ignored;
                socket->close(ignored);
                if (!reported && self->ever_connected) {
                    canal::detail::log_warning(self->name + ": subscriber: " + failure +
                                               "; retrying");
                    reported = true;
                }
                self->end_attempt();
                self->backoff.expires_after(delay);
                co_await self->backoff.async_wait(use_nothrow);
                delay = std::min(delay * 2, self->options.max_backoff);
                continue;
            }
            self->state = State::connected;
            delay = self->options.min_backoff;
            reported = false;
            if (self->ever_connected) {
                canal::detail::log_info(self->name +
                                        ": subscriber reconnected; subscribing again to " +
                                        std::to_string(self->wanted.size()) + " channel(s)");
            }
            self->ever_connected = true;
            if (!self->wanted.empty()) {
                Command again{"SUBSCRIBE"};
                for (auto const& channel : self->wanted) {
                    again.push_back(channel);
                    self->confirmations[channel].push_back(nullptr);
                }
                self->write(again);
            }
            self->end_attempt();
            auto reason = co_await read_loop(self, gen, socket, reader);
            if (self->state == State::closed) {
                break;
            }
            self->state = State::idle;
            self->fail_connection(reason);
            self->confirmed.clear();
            self->fail_confirmations(reason);
            canal::detail::log_warning(self->name + ": subscriber " + reason +
                                       "; reconnecting (messages published meanwhile are lost)");
            self->backoff.expires_after(delay);
            co_await self->backoff.async_wait(use_nothrow);
        }
        if (self->socket) {
            boost::system::error_code ignored;
            self->socket->close(ignored);
        }
        self->running = false;
        self->end_attempt();
    }

    // Waits for the connection attempt in progress (starting one now if none is).
    static awaitable<void> wait_attempt(std::shared_ptr<Impl> self) {
        self->ensure_running();
        if (self->state == State::idle) {
            self->backoff.cancel(); // between attempts: try now
        }
        if (self->state == State::connected || self->state == State::closed) {
            co_return;
        }
        auto waiter = std::make_shared<Waiter>(self->ex);
        self->attempt_waiters.push_back(waiter);
        co_await waiter->timer.async_wait(use_nothrow);
    }
};

Subscriber::Subscriber(net::any_io_executor ex, Url url, ClientOptions options, Handler on_message)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(url), options, std::move(on_message))) {
}

Subscriber::~Subscriber() { close(); }

awaitable<void> Subscriber::connect() {
    auto self = impl_;
    co_await net::this_coro::reset_cancellation_state(net::disable_cancellation());
    if (self->state == Impl::State::connected) {
        co_return;
    }
    if (self->state == Impl::State::closed) {
        throw ConnectionError(self->name + ": the subscriber is closed");
    }
    co_await Impl::wait_attempt(self);
    if (self->state != Impl::State::connected) {
        throw ConnectionError(self->name + ": " + self->last_error);
    }
}

awaitable<void> Subscriber::subscribe(std::string channel) {
    auto self = impl_;
    // A caller's cancellation must not end the wait early: that would look like a timeout.
    co_await net::this_coro::reset_cancellation_state(net::disable_cancellation());
    if (self->confirmed.contains(channel)) {
        co_return;
    }
    if (self->state == Impl::State::closed) {
        throw ConnectionError(self->name + ": SUBSCRIBE failed: the subscriber is closed");
    }
    if (!self->ever_connected && self->state != Impl::State::connected) {
        co_await Impl::wait_attempt(self);
    }
    if (self->state != Impl::State::connected) {
        throw ConnectionError(self->name + ": SUBSCRIBE failed: not connected (" +
                              self->last_error + "); reconnecting in the background");
    }
    self->wanted.insert(channel);
    auto waiter = std::make_shared<Impl::Waiter>(self->ex);
    waiter->timer.expires_after(self->options.command_timeout);
    self->confirmations[channel].push_back(waiter);
    Command cmd{"SUBSCRIBE", channel};
    self->write(cmd);
    co_await waiter->timer.async_wait(use_nothrow);
    if (!waiter->done) {
        auto const reason = "no reply to SUBSCRIBE within " +
                            std::to_string(self->options.command_timeout.count()) + " ms";
        waiter->finish(reason);
        self->fail_connection(reason);
    }
    if (!waiter->failure.empty()) {
        if (!self->confirmed.contains(channel)) {
            self->wanted.erase(channel);
        }
        throw ConnectionError(self->name + ": SUBSCRIBE failed: " + waiter->failure +
                              "; reconnecting in the background");
    }
}

void Subscriber::unsubscribe(std::string const& channel) {
    auto& self = *impl_;
    if (self.wanted.erase(channel) == 0) {
        return;
    }
    self.confirmed.erase(channel);
    if (self.state == Impl::State::connected) {
        Command cmd{"UNSUBSCRIBE", channel};
        self.write(cmd);
    }
}

void Subscriber::close() { impl_->close(); }

bool Subscriber::connected() const noexcept { return impl_->state == Impl::State::connected; }

std::size_t Subscriber::channel_count() const noexcept { return impl_->wanted.size(); }

} // namespace canal::redis::detail
