// Client: a pipelined Redis connection on a strand; reconnects with back-off.
#include <canal/redis/client.hpp>

#include "detail/log.hpp"
#include "redis/multiplexer.hpp"
#include "redis/transport.hpp"

#include <canal/core/errors.hpp>

#include <boost/algorithm/hex.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>

#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <exception>
#include <iterator>
#include <thread>
#include <utility>

namespace canal::redis {

using tcp = net::ip::tcp;

Script::Script(std::string source) : source_(std::move(source)) {
    std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
    SHA1(reinterpret_cast<unsigned char const*>(source_.data()), source_.size(), digest.data());
    sha1_.reserve(digest.size() * 2);
    boost::algorithm::hex_lower(digest.begin(), digest.end(), std::back_inserter(sha1_));
}

namespace {

// "ZADD", or "ZREMRANGEBYSCORE, EVALSHA" for a pipeline: what error messages name.
std::string describe(std::vector<Command> const& commands) {
    std::string out;
    for (auto const& c : commands) {
        if (!out.empty()) {
            out += ", ";
        }
        out += c.empty() ? std::string("(empty)") : c.front();
        if (out.size() > 80) {
            out += ", ...";
            break;
        }
    }
    return out;
}

std::string describe_error(boost::system::error_code ec) {
    if (ec == net::error::eof) {
        return "closed by the server";
    }
    return ec.message();
}

} // namespace

struct Client::OwnThread {
    net::io_context ctx{1};
    net::executor_work_guard<net::io_context::executor_type> work{ctx.get_executor()};
    std::thread thread;

    OwnThread() : thread([this] { ctx.run(); }) {}
    OwnThread(OwnThread const&) = delete;
    OwnThread& operator=(OwnThread const&) = delete;
    ~OwnThread() { stop(); }

    void stop() {
        work.reset();
        if (thread.joinable()) {
            thread.join();
        }
    }
};

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
    using Strand = net::strand<net::any_io_executor>;

    // One request, completed (or failed) by the reader or drop().
    struct Pending {
        explicit Pending(Strand const& s) : timer(s) {}
        net::steady_timer timer;
        std::vector<Reply> replies;
        bool done = false;
        std::string failure;
    };

    enum class State { idle, connecting, connected, closed };

    Impl(net::any_io_executor ex, Url u, ClientOptions o)
        : strand(net::make_strand(std::move(ex))), url(std::move(u)), options(o),
          name("Redis " + url.address()), tls(detail::make_tls_context(url)),
          backoff_timer(strand) {}

    Strand strand;
    Url const url;
    ClientOptions const options;
    std::string const name;
    std::shared_ptr<net::ssl::context> const tls; // null: plain TCP

    // Everything below: touched on the strand only (except the atomics).
    State state = State::idle;
    std::uint64_t generation = 0;
    std::shared_ptr<detail::Transport> socket;
    std::shared_ptr<tcp::resolver> resolver;
    // What is written and what waits for replies (sans I/O); `pending` holds the waiting
    // requests in the same order.
    detail::Multiplexer mux;
    bool writing = false;
    std::deque<std::shared_ptr<Pending>> pending;
    // Waiting for the connection attempt in progress to end.
    std::vector<std::shared_ptr<Pending>> attempt_waiters;
    std::string last_error = "not connected yet";
    bool reconnecting = false;
    net::steady_timer backoff_timer;
    std::function<void()> on_connect;
    std::atomic<bool> up{false};
    std::atomic<bool> closing{false};
    std::atomic<std::uint64_t> trips{0};
    std::atomic<std::uint64_t> failures{0}; // requests that failed (no connection, timeout, lost)
    std::atomic<std::uint64_t> connects{0}; // connections established

    // Fails every request in flight, closes the socket and (unless closed) reconnects.
    void drop(std::string const& reason) {
        up.store(false, std::memory_order_relaxed);
        last_error = reason;
        ++generation;
        writing = false;
        mux.reset();
        if (socket) {
            socket->close();
            socket.reset();
        }
        if (resolver) {
            resolver->cancel();
            resolver.reset();
        }
        auto failed = std::move(pending);
        pending.clear();
        for (auto& p : failed) {
            p->done = true;
            p->failure = reason;
            p->timer.cancel();
        }
        if (state == State::connected) {
            canal::detail::log_warning(name + ": " + reason + "; reconnecting");
        }
        if (state != State::closed) {
            state = State::idle;
            start_reconnect();
        }
    }

    void shutdown() {
        auto const was = state;
        state = State::closed;
        backoff_timer.cancel();
        if (was != State::closed) {
            drop("the client is closed");
        }
        end_attempt();
    }

    void end_attempt() {
        auto waiters = std::move(attempt_waiters);
        attempt_waiters.clear();
        for (auto& w : waiters) {
            w->done = true;
            w->timer.cancel();
        }
    }

    void start_reconnect() {
        if (reconnecting || state == State::closed) {
            return;
        }
        reconnecting = true;
        net::co_spawn(strand, reconnect_loop(shared_from_this()), [](std::exception_ptr ep) {
            canal::detail::log_exception("redis client: reconnect", ep);
        });
    }

    static awaitable<void> reconnect_loop(std::shared_ptr<Impl> self) {
        auto delay = self->options.min_backoff;
        while (self->state != State::closed && self->state != State::connected) {
            self->backoff_timer.expires_after(delay);
            co_await self->backoff_timer.async_wait(use_nothrow);
            if (self->state == State::closed || self->state == State::connected) {
                break;
            }
            bool const ok = co_await attempt(self);
            if (ok) {
                canal::detail::log_info(self->name + ": reconnected");
                break;
            }
            delay = std::min(delay * 2, self->options.max_backoff);
        }
        self->reconnecting = false;
    }

    // One connection attempt (resolve, connect, AUTH, SELECT) within connect_timeout.
    static awaitable<bool> attempt(std::shared_ptr<Impl> self) {
        if (self->state == State::connecting) {
            auto waiter = std::make_shared<Pending>(self->strand);
            waiter->timer.expires_at(net::steady_timer::time_point::max());
            self->attempt_waiters.push_back(waiter);
            co_await waiter->timer.async_wait(use_nothrow);
            co_return self->state == State::connected;
        }
        if (self->state != State::idle) {
            co_return self->state == State::connected;
        }
        self->state = State::connecting;
        auto const gen = ++self->generation;
        self->socket = std::make_shared<detail::Transport>(self->strand, self->tls);
        self->resolver = std::make_shared<tcp::resolver>(self->strand);
        auto socket = self->socket;
        auto resolver = self->resolver;

        // The watchdog closes the socket when the attempt takes too long.
        auto timed_out = std::make_shared<bool>(false);
        net::steady_timer watchdog(self->strand);
        watchdog.expires_after(self->options.connect_timeout);
        watchdog.async_wait([self, gen, timed_out, socket, resolver](boost::system::error_code ec) {
            if (ec || self->generation != gen || self->state != State::connecting) {
                return;
            }
            *timed_out = true;
            socket->close();
            resolver->cancel();
        });

        std::string failure;
        auto const port = std::to_string(self->url.port);
        auto [rec, endpoints] = co_await resolver->async_resolve(self->url.host, port, use_nothrow);
        if (rec) {
            failure = "cannot resolve the host: " + rec.message();
        } else {
            auto [cec, ep] = co_await net::async_connect(socket->socket(), endpoints, use_nothrow);
            if (cec) {
                failure = "cannot connect: " + cec.message();
            } else {
                boost::system::error_code ignored;
                socket->socket().set_option(tcp::no_delay(true), ignored);
                auto const hec = co_await socket->handshake(self->url);
                if (hec) {
                    failure = "TLS handshake failed: " + describe_error(hec);
                }
            }
        }
        if (failure.empty() && self->generation == gen) {
            net::co_spawn(self->strand, read_loop(self, gen, socket), [](std::exception_ptr ep) {
                canal::detail::log_exception("redis client: reader", ep);
            });
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
            // A PING too: a server that accepts connections but does not answer (hung,
            // stopped) fails the attempt within connect_timeout, not later on every request.
            Command ping{"PING"};
            hello.push_back(std::move(ping));
            try {
                std::vector<std::string> names;
                for (auto const& c : hello) {
                    names.push_back(c.front());
                }
                auto replies =
                    co_await request(self, std::move(hello), self->options.connect_timeout, true);
                for (std::size_t i = 0; i < replies.size(); ++i) {
                    if (replies[i].is_error()) {
                        failure = names[i] + " refused: " + replies[i].str;
                        break;
                    }
                }
            } catch (std::exception const& e) {
                failure = e.what();
            }
        }
        watchdog.cancel();
        if (*timed_out) {
            failure = "cannot connect: no answer within " +
                      std::to_string(self->options.connect_timeout.count()) + " ms";
        }
        if (self->state == State::closed) {
            failure = "the client is closed";
        } else if (failure.empty() && self->generation != gen) {
            failure = self->last_error;
        }
        if (!failure.empty()) {
            if (self->state == State::connecting) {
                self->state = State::idle;
                // drop() records the reason and schedules the next attempt.
                self->drop(failure);
            } else {
                self->last_error = failure;
            }
            self->end_attempt();
            co_return false;
        }
        self->state = State::connected;
        self->up.store(true, std::memory_order_relaxed);
        self->connects.fetch_add(1, std::memory_order_relaxed);
        self->end_attempt();
        if (self->on_connect) {
            try {
                self->on_connect();
            } catch (std::exception const& e) {
                canal::detail::log_error(self->name + ": on_connect hook failed: " + e.what());
            }
        }
        co_return true;
    }

    static awaitable<void> read_loop(std::shared_ptr<Impl> self, std::uint64_t gen,
                                     std::shared_ptr<detail::Transport> socket) {
        std::vector<char> buffer(64 * 1024);
        for (;;) {
            auto [ec, n] = co_await socket->read_some(net::buffer(buffer));
            if (self->generation != gen) {
                co_return;
            }
            if (ec) {
                self->drop("connection lost (" + describe_error(ec) + ")");
                co_return;
            }
            try {
                for (auto& done : self->mux.on_read(buffer.data(), n)) {
                    self->complete(std::move(done.replies));
                }
            } catch (std::exception const& e) {
                self->drop(e.what());
                co_return;
            }
        }
    }

    // The oldest request has all its replies (the multiplexer answers in order).
    void complete(std::vector<Reply> replies) {
        auto p = std::move(pending.front());
        pending.pop_front();
        p->replies = std::move(replies);
        p->done = true;
        p->timer.cancel();
    }

    void kick_writer() {
        if (writing || !mux.has_output() || !socket) {
            return;
        }
        writing = true;
        net::co_spawn(strand, write_loop(shared_from_this(), generation, socket),
                      [](std::exception_ptr ep) {
                          canal::detail::log_exception("redis client: writer", ep);
                      });
    }

    static awaitable<void> write_loop(std::shared_ptr<Impl> self, std::uint64_t gen,
                                      std::shared_ptr<detail::Transport> socket) {
        std::string buffer;
        while (self->generation == gen && self->mux.has_output()) {
            self->mux.take_output(buffer);
            auto [ec, n] = co_await socket->write(net::buffer(buffer));
            if (self->generation != gen) {
                co_return;
            }
            if (ec) {
                self->drop("write failed (" + describe_error(ec) + ")");
                co_return;
            }
        }
        self->writing = false;
    }

    // Queues `commands` and waits for their replies; runs on the strand.
    static awaitable<std::vector<Reply>> request(std::shared_ptr<Impl> self,
                                                 std::vector<Command> commands,
                                                 std::chrono::milliseconds timeout,
                                                 bool handshake) {
        // A caller's cancellation must not abandon a request half-way: the reply would
        // then be matched to the next request. Requests end by reply, failure or timeout.
        co_await net::this_coro::reset_cancellation_state(net::disable_cancellation());
        auto const what = describe(commands);
        if (self->state == State::closed) {
            throw ConnectionError(self->name + ": " + what + " failed: the client is closed");
        }
        bool const usable =
            self->state == State::connected || (handshake && self->state == State::connecting);
        if (!usable || !self->socket) {
            self->failures.fetch_add(1, std::memory_order_relaxed);
            throw ConnectionError(self->name + ": " + what + " failed: not connected (" + self->last_error +
                        "); reconnecting in the background");
        }
        self->mux.add(commands);
        auto p = std::make_shared<Pending>(self->strand);
        p->timer.expires_after(timeout);
        self->pending.push_back(p);
        self->trips.fetch_add(1, std::memory_order_relaxed);
        self->kick_writer();
        co_await p->timer.async_wait(use_nothrow);
        if (!p->done) {
            auto const reason =
                "no reply to " + what + " within " + std::to_string(timeout.count()) + " ms";
            self->drop(reason);
            self->failures.fetch_add(1, std::memory_order_relaxed);
            throw ConnectionError(self->name + ": " + what + " failed: " + reason +
                        "; reconnecting in the background");
        }
        if (!p->failure.empty()) {
            self->failures.fetch_add(1, std::memory_order_relaxed);
            throw ConnectionError(self->name + ": " + what + " failed: " + p->failure);
        }
        co_return std::move(p->replies);
    }

    static awaitable<void> connect_op(std::shared_ptr<Impl> self) {
        // The attempt is shared by every waiting caller (and bounded by connect_timeout):
        // one caller's cancellation must not abort it for the others ("Operation canceled").
        co_await net::this_coro::reset_cancellation_state(net::disable_cancellation());
        if (self->state == State::connected) {
            co_return;
        }
        bool const ok = co_await attempt(self);
        if (!ok) {
            throw ConnectionError(self->name + ": " + self->last_error);
        }
    }
};

Client::Client(Url url, ClientOptions options) : thread_(std::make_unique<OwnThread>()) {
    impl_ = std::make_shared<Impl>(thread_->ctx.get_executor(), std::move(url), options);
}

Client::Client(net::any_io_executor ex, Url url, ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(url), options)) {}

Client::~Client() {
    close();
    if (thread_) {
        thread_->stop();
    }
}

awaitable<void> Client::connect() {
    auto op = Impl::connect_op(impl_);
    co_await net::co_spawn(impl_->strand, std::move(op), use_awaitable);
}

awaitable<Reply> Client::command(Command cmd, std::chrono::milliseconds extra_timeout) {
    auto impl = impl_;
    auto const what = cmd.empty() ? std::string("(empty)") : cmd.front();
    std::vector<Command> commands;
    commands.push_back(std::move(cmd));
    auto const timeout = impl->options.command_timeout + extra_timeout;
    auto op = Impl::request(impl, std::move(commands), timeout, false);
    auto replies = co_await net::co_spawn(impl->strand, std::move(op), use_awaitable);
    Reply reply = std::move(replies.front());
    if (reply.is_error()) {
        throw Error(impl->name + ": " + what + " failed: " + reply.str);
    }
    co_return reply;
}

awaitable<std::vector<Reply>> Client::pipeline(std::vector<Command> commands) {
    if (commands.empty()) {
        co_return std::vector<Reply>{};
    }
    auto impl = impl_;
    auto const timeout = impl->options.command_timeout;
    auto op = Impl::request(impl, std::move(commands), timeout, false);
    co_return co_await net::co_spawn(impl->strand, std::move(op), use_awaitable);
}

awaitable<Reply> Client::eval(Script const& script, std::vector<std::string> keys,
                              std::vector<std::string> args) {
    auto impl = impl_;
    Command cmd;
    cmd.reserve(3 + keys.size() + args.size());
    cmd.emplace_back("EVALSHA");
    cmd.push_back(script.sha1());
    cmd.push_back(std::to_string(keys.size()));
    for (auto& k : keys) {
        cmd.push_back(std::move(k));
    }
    for (auto& a : args) {
        cmd.push_back(std::move(a));
    }
    std::vector<Command> first;
    first.push_back(cmd);
    auto const timeout = impl->options.command_timeout;
    auto op = Impl::request(impl, std::move(first), timeout, false);
    auto replies = co_await net::co_spawn(impl->strand, std::move(op), use_awaitable);
    Reply reply = std::move(replies.front());
    if (reply.is_error() && reply.str.starts_with("NOSCRIPT")) {
        cmd[0] = "EVAL";
        cmd[1] = script.source();
        std::vector<Command> again;
        again.push_back(std::move(cmd));
        auto retry = Impl::request(impl, std::move(again), timeout, false);
        replies = co_await net::co_spawn(impl->strand, std::move(retry), use_awaitable);
        reply = std::move(replies.front());
    }
    if (reply.is_error()) {
        throw Error(impl->name + ": EVALSHA failed: " + reply.str);
    }
    co_return reply;
}

void Client::on_connect(std::function<void()> hook) {
    auto impl = impl_;
    net::post(impl->strand,
              [impl, hook = std::move(hook)]() mutable { impl->on_connect = std::move(hook); });
}

bool Client::connected() const noexcept { return impl_->up.load(std::memory_order_relaxed); }

std::uint64_t Client::round_trips() const noexcept {
    return impl_->trips.load(std::memory_order_relaxed);
}

std::uint64_t Client::failures() const noexcept {
    return impl_->failures.load(std::memory_order_relaxed);
}

std::uint64_t Client::reconnects() const noexcept {
    auto const n = impl_->connects.load(std::memory_order_relaxed);
    return n > 0 ? n - 1 : 0;
}

Url const& Client::url() const noexcept { return impl_->url; }

void Client::close() {
    if (impl_->closing.exchange(true)) {
        return;
    }
    auto impl = impl_;
    net::post(impl->strand, [impl] { impl->shutdown(); });
}

} // namespace canal::redis
