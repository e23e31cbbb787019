// serve_http: one request, its body read as the application asks for it, and its response
// written part by part.
#include "server/http_session.hpp"

#include <canal/core/errors.hpp>

#include "detail/log.hpp"
#include "detail/notifier.hpp"
#include "server/session_core.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/socket.h>

#include <cerrno>

namespace canal::detail {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::size_t body_part_size = 64 * 1024;
constexpr auto write_timeout = std::chrono::seconds(30);

class HttpExchange : public std::enable_shared_from_this<HttpExchange> {
public:
    HttpExchange(Server::Impl& server, Stream& stream, beast::flat_buffer& buffer,
                 http::request_parser<http::empty_body>&& head)
        : server_(server), stream_(stream), buffer_(buffer), parser_(std::move(head)),
          changed_(stream.get_executor()) {
        parser_.body_limit(server.settings.max_body_size);
        auto const& req = parser_.get();
        head_only_ = req.method() == http::verb::head;
        version_ = req.version();
        keep_alive_ = req.keep_alive();
    }

    // The application's `receive`: the body in parts, then HttpDisconnect once the response
    // is over or the client has gone.
    awaitable<Event> receive() {
        check_live();
        if (!body_done_) {
            co_return co_await read_body_part();
        }
        while (!response_done_ && !client_gone_) {
            watch_client();
            co_await changed_.wait();
            check_live();
        }
        co_return HttpDisconnect{};
    }

    // Settings::http_timeout: past it, a response not started is answered 503, one started is
    // cut off; either way the application is told (HttpDisconnect, RequestAborted).
    void arm_timeout(std::chrono::milliseconds after) {
        timeout_.emplace(stream_.get_executor(), after);
        timeout_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
            if (!ec) {
                self->timed_out();
            }
        });
    }

    // The application's `send`.
    awaitable<void> send(Event ev) {
        check_live();
        if (auto* start = std::get_if<HttpResponseStart>(&ev)) {
            if (start_ != nullptr) {
                throw Error("http.response.start sent twice");
            }
            start_ = std::make_unique<HttpResponseStart>(std::move(*start));
            co_return;
        }
        auto* part = std::get_if<HttpResponseBody>(&ev);
        if (part == nullptr) {
            throw Error("unexpected event sent by an http application");
        }
        if (start_ == nullptr) {
            throw Error("http response body before http response start");
        }
        if (client_gone_) {
            // Nothing to write to (or --http-timeout answered for the application): it is
            // told (ASGI: send on a closed connection raises), so that a handler stops.
            response_done_ = true;
            throw RequestAborted(timed_out_ ? "the response was not given within --http-timeout"
                                            : "the client went away before the response ended");
        }
        if (response_done_) {
            throw Error("http response body after the response ended");
        }
        if (!headers_sent_ && !part->more_body) {
            co_await write_whole(std::move(part->body));
        } else {
            if (!headers_sent_) {
                co_await write_head();
            }
            if (!part->body.empty() && !head_only_ && !client_gone_) {
                co_await write_part(part->body);
            }
            if (!part->more_body) {
                if (chunked_ && !head_only_ && !client_gone_) {
                    co_await write_raw(http::make_chunk_last());
                }
                response_done_ = true;
            }
        }
        changed_.notify();
    }

    // After the application returned (or threw: `error`): what is still owed to the client.
    // Returns true when the connection may carry another request.
    awaitable<bool> finish(std::exception_ptr error) {
        auto const& path = path_;
        if (timeout_) {
            timeout_->cancel();
        }
        while (answering_timeout_) {
            co_await changed_.wait(); // the 503 is being written
        }
        int status = start_ ? start_->status : 500;
        if (timed_out_ && !error) {
            status = 503;
        }
        std::string failure;
        if (error) {
            try {
                std::rethrow_exception(error);
            } catch (RequestAborted const&) {
                // The client left mid-response: nothing to answer, nothing to report.
                status = start_ ? start_->status : 499;
            } catch (RouteNotFound const&) {
                status = 404;
                failure = "not found\n";
            } catch (std::exception const& e) {
                status = 500;
                failure = "internal server error\n";
                log_error("http " + path + ": " + e.what() +
                          (headers_sent_ ? "; the response is cut short" : "; answered 500"));
            }
        } else if (start_ == nullptr && !too_large_ && !client_gone_) {
            status = 500;
            failure = "internal server error: the application sent no response\n";
            log_error("http " + path + ": the application sent no response; answered 500");
        }
        if (too_large_ && !headers_sent_) {
            // A chunked body that grew over the limit while the application read it.
            status = 413;
            std::string body = "request body too large\n";
            body_bytes_ += body.size();
            co_await refuse(stream_, server_.settings.server_name, status, std::move(body), false);
            keep_alive_ = false;
        } else if (!headers_sent_ && !client_gone_) {
            if (!failure.empty()) {
                body_bytes_ += failure.size();
                co_await refuse(stream_, server_.settings.server_name, status, std::move(failure),
                                keep_alive_ && (body_done_ || parser_.is_done()));
            } else {
                co_await write_whole(std::string()); // a start without a body: an empty body
            }
        } else if (headers_sent_ && !response_done_) {
            if (!error && !client_gone_) {
                log_warning("http " + path + ": the application returned before ending its "
                                             "response; ended it");
            }
            if (chunked_ && !client_gone_ && !head_only_ && !error) {
                co_await write_raw(http::make_chunk_last());
            }
            keep_alive_ = false;
        }
        server_.metrics.count_http(status);
        if (server_.access_log) {
            log_access(status);
        }
        finished_ = true;
        if (watching_) {
            boost::system::error_code ec;
            stream_.lowest().cancel(ec);
        }
        bool const body_read = body_done_ || parser_.is_done(); // read, or none was sent
        co_return keep_alive_ && body_read && !client_gone_ && (response_done_ || !failure.empty());
    }

    // The access log's line for this exchange (begun_ and the scope's client and path).
    void log_access(int status) {
        auto const& req = parser_.get();
        auto const method = req.method_string();
        AccessRecord record;
        record.time = begun_;
        record.client = client_;
        record.method = std::string_view(method.data(), method.size());
        record.path = access_path_;
        record.protocol = version_ == 10 ? "HTTP/1.0" : "HTTP/1.1";
        record.status = status;
        record.bytes = static_cast<std::int64_t>(body_bytes_);
        record.duration = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - begun_steady_);
        server_.access_log->write(record);
    }

private:
    void timed_out() {
        if (finished_ || response_done_ || client_gone_) {
            return;
        }
        timed_out_ = true;
        client_gone_ = true; // the application's sends throw RequestAborted from now on
        keep_alive_ = false;
        auto const limit = std::to_string(server_.settings.http_timeout.count());
        if (!headers_sent_) {
            log_warning("http " + path_ + ": no response within --http-timeout (" + limit +
                        " ms); answered 503");
            headers_sent_ = true;
            response_done_ = true;
            answering_timeout_ = true;
            net::co_spawn(stream_.get_executor(), answer_timeout(),
                          [self = shared_from_this()](std::exception_ptr) {
                              self->answering_timeout_ = false;
                              self->changed_.notify();
                          });
        } else {
            log_warning("http " + path_ + ": response not finished within --http-timeout (" +
                        limit + " ms); connection closed");
            boost::system::error_code ec;
            stream_.lowest().shutdown(net::socket_base::shutdown_both, ec);
        }
        changed_.notify();
    }

    awaitable<void> answer_timeout() {
        std::string body = "service unavailable: the application did not respond in time\n";
        body_bytes_ += body.size();
        co_await refuse(stream_, server_.settings.server_name, 503, std::move(body), false);
        // Said "Connection: close": the client need not wait for the application to end.
        boost::system::error_code ec;
        stream_.lowest().shutdown(net::socket_base::shutdown_send, ec);
    }

    void check_live() const {
        if (finished_) {
            throw Error("this http connection's exchange is over");
        }
    }

    awaitable<Event> read_body_part() {
        if (parser_.is_done()) {
            body_done_ = true;
            co_return HttpRequest{{}, false};
        }
        // No more room than the body can still need (a small body gets a small buffer).
        auto const left = parser_.content_length_remaining();
        std::string part(left ? std::min<std::uint64_t>(*left, body_part_size) : body_part_size,
                         '\0');
        parser_.get().body().data = part.data();
        parser_.get().body().size = part.size();
        parser_.get().body().more = true;
        stream_.expires_after(server_.settings.handshake_timeout);
        auto [ec, n] = co_await http::async_read(stream_, buffer_, parser_, use_nothrow);
        stream_.expires_never();
        if (ec == http::error::need_buffer) {
            ec = {};
        }
        if (ec) {
            if (ec == http::error::body_limit) {
                too_large_ = true;
            }
            // The body cannot be read to its end: no keep-alive, and the application is told.
            client_gone_ = !too_large_;
            body_done_ = true;
            keep_alive_ = false;
            co_return HttpDisconnect{};
        }
        part.resize(part.size() - parser_.get().body().size);
        body_done_ = parser_.is_done();
        co_return HttpRequest{std::move(part), !body_done_};
    }

    // Waits (without reading) for the client's socket to become readable: end of stream
    // means the client went away; data is a pipelined request, read after this one.
    void watch_client() {
        if (watching_ || pipelined_ || client_gone_) {
            return;
        }
        watching_ = true;
        stream_.lowest().async_wait(net::socket_base::wait_read,
                                    [self = shared_from_this()](boost::system::error_code ec) {
                                        self->watched(ec);
                                    });
    }

    void watched(boost::system::error_code ec) {
        watching_ = false;
        if (finished_ || ec == net::error::operation_aborted) {
            return;
        }
        // Readable: a byte (a pipelined request) or the end of the stream. A wake-up with
        // neither (nothing to peek yet) is not taken for the client's leaving.
        ssize_t peeked = -1;
        if (!ec) {
            char byte = 0;
            peeked = ::recv(stream_.lowest().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
            if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                watch_client();
                return;
            }
        }
        if (peeked > 0) {
            pipelined_ = true;
        } else {
            client_gone_ = true;
            keep_alive_ = false;
        }
        changed_.notify();
    }

    template <typename Message>
    void fill(Message& res) {
        if (!body_done_ && !parser_.is_done()) {
            // A body the application did not read cannot be skipped to the next request:
            // the response says the connection ends with it.
            keep_alive_ = false;
        }
        res.version(version_);
        if (!server_.settings.server_name.empty()) {
            res.set(http::field::server, server_.settings.server_name);
        }
        for (auto const& [name, value] : start_->headers) {
            res.insert(name, value);
        }
    }

    awaitable<void> write_whole(std::string body) {
        http::response<http::string_body> res{static_cast<http::status>(start_->status), version_};
        fill(res);
        if (!head_only_) {
            body_bytes_ += body.size();
            res.body() = std::move(body);
            res.prepare_payload();
        } else {
            res.content_length(body.size());
        }
        res.keep_alive(keep_alive_);
        headers_sent_ = true;
        response_done_ = true;
        stream_.expires_after(write_timeout);
        auto [ec, n] = co_await http::async_write(stream_, res, use_nothrow);
        after_write(ec);
    }

    awaitable<void> write_head() {
        http::response<http::empty_body> res{static_cast<http::status>(start_->status), version_};
        fill(res);
        bool const has_length = res.find(http::field::content_length) != res.end();
        if (!has_length) {
            if (version_ >= 11) {
                chunked_ = true;
                res.chunked(true);
            } else {
                keep_alive_ = false; // HTTP/1.0: the end of the connection ends the body
            }
        }
        res.keep_alive(keep_alive_);
        headers_sent_ = true;
        http::response_serializer<http::empty_body> sr{res};
        stream_.expires_after(write_timeout);
        auto [ec, n] = co_await http::async_write_header(stream_, sr, use_nothrow);
        after_write(ec);
    }

    awaitable<void> write_part(std::string const& body) {
        body_bytes_ += body.size();
        if (chunked_) {
            co_await write_raw(http::make_chunk(net::buffer(body)));
        } else {
            co_await write_raw(net::buffer(body));
        }
    }

    template <typename Buffers>
    awaitable<void> write_raw(Buffers const& buffers) {
        stream_.expires_after(write_timeout);
        auto [ec, n] = co_await net::async_write(stream_, buffers, use_nothrow);
        after_write(ec);
    }

    void after_write(boost::system::error_code ec) {
        stream_.expires_never();
        if (ec) {
            client_gone_ = true;
            keep_alive_ = false;
            changed_.notify();
        }
    }

    Server::Impl& server_;
    Stream& stream_;
    beast::flat_buffer& buffer_;
    http::request_parser<http::buffer_body> parser_;
    Notifier changed_;
    std::unique_ptr<HttpResponseStart> start_;
    unsigned version_ = 11;
    bool head_only_ = false;
    bool keep_alive_ = true;
    bool body_done_ = false;
    bool too_large_ = false;
    bool headers_sent_ = false;
    bool chunked_ = false;
    bool response_done_ = false;
    bool client_gone_ = false;
    bool watching_ = false;
    bool pipelined_ = false;
    bool finished_ = false;
    bool timed_out_ = false;
    bool answering_timeout_ = false;
    std::optional<net::steady_timer> timeout_;

public:
    std::string path_; // for log lines
    // For the access log (when there is one).
    std::string client_;
    std::string access_path_;
    std::chrono::system_clock::time_point begun_ = std::chrono::system_clock::now();
    std::chrono::steady_clock::time_point begun_steady_ = std::chrono::steady_clock::now();
    std::size_t body_bytes_ = 0;
};

} // namespace

awaitable<bool> serve_http(std::shared_ptr<Server::Impl> server, Stream& stream,
                           beast::flat_buffer& buffer,
                           http::request_parser<http::empty_body>& head,
                           std::optional<Endpoint> const& client) {
    auto scope = build_scope(request_head("http", head.get(), stream, client, server->fixed_local));
    if (!scope) {
        co_await refuse(stream, server->settings.server_name, 400, "invalid request target\n", false);
        co_return false;
    }
    scope->channel_layer = server->settings.channel_layer;
    scope->channel_layers = server->layers;
    scope->root_path = server->settings.root_path;
    if (server->proxies) {
        apply_proxy_headers(*scope, *server->proxies, !server->listener_inet);
    }
    auto const path = scope->path;
    auto exchange = std::make_shared<HttpExchange>(*server, stream, buffer, std::move(head));
    exchange->path_ = path;
    if (server->access_log) {
        exchange->client_ = access_client(*scope);
        exchange->access_path_ = access_path(*scope);
    }
    if (server->settings.http_timeout.count() > 0) {
        exchange->arm_timeout(server->settings.http_timeout);
    }
    Receive receive = [exchange]() { return exchange->receive(); };
    Send send = [exchange](Event ev) { return exchange->send(std::move(ev)); };
    std::exception_ptr error;
    try {
        co_await server->app(std::move(*scope), std::move(receive), std::move(send));
    } catch (...) {
        error = std::current_exception();
    }
    co_return co_await exchange->finish(error);
}

} // namespace canal::detail
