// Blocking test clients over Beast and Asio: each object owns an io_context that runs only while
// one of its calls waits, so every call is bounded by a deadline and needs no extra thread.
// This is the only test translation unit that instantiates Beast's websocket code.
#include "support/ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <array>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <utility>

namespace canal::test {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

/** Runs `ioc` until `done` is true or `deadline` passes; true when done. */
bool run_until(net::io_context& ioc, bool const& done, Clock::time_point deadline) {
    while (!done) {
        if (ioc.stopped()) {
            ioc.restart();
        }
        if (ioc.run_one_until(deadline) == 0) {
            // Either the deadline passed or nothing is left to run: both end the wait.
            if (ioc.stopped() || Clock::now() >= deadline) {
                return done;
            }
        }
    }
    return true;
}

/** Runs whatever handlers are ready or become ready within `limit` (used to wind down). */
void drain(net::io_context& ioc, Timeout limit) {
    ioc.restart();
    ioc.run_for(limit);
}

tcp::endpoint endpoint_of(std::string const& host, unsigned short port) {
    return {net::ip::make_address(host), port};
}

/** Connects `socket` to host:port within the deadline; the error message on failure. */
std::string connect_socket(net::io_context& ioc, tcp::socket& socket, std::string const& host,
                           unsigned short port, int receive_buffer_size,
                           Clock::time_point deadline) {
    error_code ec;
    auto const ep = endpoint_of(host, port);
    socket.open(ep.protocol(), ec);
    if (ec) {
        return "open: " + ec.message();
    }
    if (receive_buffer_size > 0) {
        socket.set_option(net::socket_base::receive_buffer_size(receive_buffer_size), ec);
    }
    bool done = false;
    socket.async_connect(ep, [&](error_code e) {
        ec = e;
        done = true;
    });
    if (!run_until(ioc, done, deadline)) {
        socket.close(ec);
        drain(ioc, Timeout{100});
        return "connect to " + host + ":" + std::to_string(port) + " timed out";
    }
    if (ec) {
        return "connect to " + host + ":" + std::to_string(port) + ": " + ec.message();
    }
    socket.set_option(tcp::no_delay(true), ec);
    return {};
}

WsFrame frame_of(WsFrame::Kind kind, int close_code = 0, std::string error = {}) {
    WsFrame f;
    f.kind = kind;
    f.close_code = close_code;
    f.error = std::move(error);
    return f;
}

void set_linger_zero(tcp::socket& socket) {
    error_code ec;
    socket.set_option(net::socket_base::linger(true, 0), ec);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// WsFrame

std::ostream& operator<<(std::ostream& os, WsFrame::Kind kind) {
    switch (kind) {
    case WsFrame::Kind::text:
        return os << "text";
    case WsFrame::Kind::binary:
        return os << "binary";
    case WsFrame::Kind::close:
        return os << "close";
    case WsFrame::Kind::timeout:
        return os << "timeout";
    case WsFrame::Kind::error:
        return os << "error";
    }
    return os << "?";
}

std::string WsFrame::describe() const {
    switch (kind) {
    case Kind::text:
        return "text(" + std::to_string(data.size()) + " bytes: " + data.substr(0, 60) + ")";
    case Kind::binary:
        return "binary(" + std::to_string(data.size()) + " bytes)";
    case Kind::close:
        return "close(" + std::to_string(close_code) + ", \"" + close_reason + "\")";
    case Kind::timeout:
        return "timeout";
    case Kind::error:
        return "error(" + error + ")";
    }
    return "?";
}

// ---------------------------------------------------------------------------------------------
// WsClient

struct WsClient::Impl {
    net::io_context ioc;
    websocket::stream<beast::tcp_stream> ws{ioc};
    std::string subprotocol;
    std::string last_error;

    beast::flat_buffer read_buffer;
    bool read_pending = false;
    bool read_done = false;
    error_code read_ec;
    bool read_text = false;
    std::optional<WsFrame> terminal; // the close or error every later read() returns

    std::string write_data; // owned: a write that timed out may still reference it
    bool write_pending = false;
    bool closing = false;

    void start_read() {
        read_pending = true;
        read_done = false;
        ws.async_read(read_buffer, [this](error_code ec, std::size_t) {
            read_ec = ec;
            read_text = ws.got_text();
            read_pending = false;
            read_done = true;
        });
    }

    /** The frame the completed read produced. */
    WsFrame take_read() {
        read_done = false;
        WsFrame f;
        if (!read_ec) {
            f.kind = read_text ? WsFrame::Kind::text : WsFrame::Kind::binary;
            f.data = beast::buffers_to_string(read_buffer.data());
            read_buffer.consume(read_buffer.size());
            return f;
        }
        if (read_ec == websocket::error::closed) {
            f.kind = WsFrame::Kind::close;
            f.close_code = ws.reason().code;
            f.close_reason = std::string(ws.reason().reason.data(), ws.reason().reason.size());
        } else {
            f.kind = WsFrame::Kind::error;
            f.error = read_ec.message();
        }
        terminal = f;
        return f;
    }

    bool write(std::string_view data, bool text, Timeout timeout) {
        if (terminal) {
            last_error = "connection already ended: " + terminal->describe();
            return false;
        }
        if (write_pending) {
            last_error = "an earlier write has not completed";
            return false;
        }
        write_data.assign(data);
        write_pending = true;
        bool done = false;
        error_code ec;
        ws.text(text);
        ws.async_write(net::buffer(write_data), [this, &done, &ec](error_code e, std::size_t) {
            write_pending = false;
            ec = e;
            done = true;
        });
        if (!run_until(ioc, done, Clock::now() + timeout)) {
            // The handler may still run later, so it must not touch `done` then.
            ws.next_layer().socket().close(ec);
            drain(ioc, Timeout{200});
            last_error = "write of " + std::to_string(data.size()) + " bytes timed out";
            return false;
        }
        if (ec) {
            last_error = "write: " + ec.message();
            return false;
        }
        return true;
    }

    void shutdown() {
        error_code ec;
        ws.next_layer().socket().close(ec);
        drain(ioc, Timeout{200});
    }
};

WsClient::WsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WsClient::~WsClient() {
    if (!impl_) {
        return;
    }
    if (!impl_->terminal && !impl_->closing && impl_->ws.is_open()) {
        (void)close(1000, {}, Timeout{1000});
    }
    impl_->shutdown();
}

bool WsClient::send_text(std::string_view text, Timeout timeout) {
    return impl_->write(text, true, timeout);
}

bool WsClient::send_binary(std::string_view data, Timeout timeout) {
    return impl_->write(data, false, timeout);
}

WsFrame WsClient::read(Timeout timeout) {
    auto& im = *impl_;
    if (im.terminal && !im.read_done) {
        return *im.terminal;
    }
    if (!im.read_pending && !im.read_done) {
        im.start_read();
    }
    if (!run_until(im.ioc, im.read_done, Clock::now() + timeout)) {
        return frame_of(WsFrame::Kind::timeout);
    }
    return im.take_read();
}

bool WsClient::close(int code, std::string_view reason, Timeout timeout) {
    auto& im = *impl_;
    if (im.terminal) {
        im.last_error = "connection already ended: " + im.terminal->describe();
        return false;
    }
    im.closing = true;
    auto const deadline = Clock::now() + timeout;
    bool done = false;
    error_code ec;
    websocket::close_reason cr(static_cast<std::uint16_t>(code));
    cr.reason.assign(reason.data(), std::min(reason.size(), cr.reason.max_size()));
    im.ws.async_close(cr, [&done, &ec](error_code e) {
        ec = e;
        done = true;
    });
    if (!run_until(im.ioc, done, deadline)) {
        im.shutdown();
        im.last_error = "close timed out";
        return false;
    }
    // A pending read ends with `closed` once the close handshake completes.
    if (im.read_pending) {
        run_until(im.ioc, im.read_done, deadline);
    }
    im.read_done = false;
    im.terminal = frame_of(WsFrame::Kind::close, code);
    if (ec) {
        im.last_error = "close: " + ec.message();
        return false;
    }
    return true;
}

void WsClient::close_abruptly() {
    impl_->closing = true;
    impl_->shutdown();
    impl_->read_done = false;
    impl_->terminal = frame_of(WsFrame::Kind::error, 0, "closed abruptly by the test");
}

void WsClient::reset() {
    set_linger_zero(impl_->ws.next_layer().socket());
    close_abruptly();
}

std::string const& WsClient::subprotocol() const noexcept { return impl_->subprotocol; }

std::string const& WsClient::last_error() const noexcept { return impl_->last_error; }

ConnectResult ws_connect(std::string const& host, unsigned short port, std::string const& target,
                         ConnectOptions const& options) {
    ConnectResult result;
    auto impl = std::make_unique<WsClient::Impl>();
    auto const deadline = Clock::now() + options.timeout;
    auto& socket = impl->ws.next_layer().socket();
    result.error =
        connect_socket(impl->ioc, socket, host, port, options.receive_buffer_size, deadline);
    if (!result.error.empty()) {
        return result;
    }

    impl->ws.read_message_max(options.max_message_size);
    impl->ws.auto_fragment(options.auto_fragment);
    std::string protocols;
    for (auto const& p : options.subprotocols) {
        protocols += (protocols.empty() ? "" : ", ") + p;
    }
    impl->ws.set_option(websocket::stream_base::decorator(
        [protocols, origin = options.origin](websocket::request_type& req) {
            if (!protocols.empty()) {
                req.set(http::field::sec_websocket_protocol, protocols);
            }
            if (origin) {
                req.set(http::field::origin, *origin);
            }
        }));

    websocket::response_type res;
    res.result(http::status::unknown); // stays 0 when no response arrives
    bool done = false;
    error_code ec;
    auto const host_header = host + ":" + std::to_string(port);
    impl->ws.async_handshake(res, host_header, target, [&done, &ec](error_code e) {
        ec = e;
        done = true;
    });
    if (!run_until(impl->ioc, done, deadline)) {
        impl->shutdown();
        result.error = "handshake for " + target + " timed out";
        return result;
    }
    result.http_status = static_cast<int>(res.result_int());
    result.body = res.body();
    if (ec) {
        result.error = "handshake for " + target + ": " + ec.message();
        impl->shutdown();
        return result;
    }
    result.subprotocol = std::string(res[http::field::sec_websocket_protocol]);
    impl->subprotocol = result.subprotocol;
    result.ws = std::make_unique<WsClient>(std::move(impl));
    return result;
}

// ---------------------------------------------------------------------------------------------
// http_get

HttpResponse http_get(std::string const& host, unsigned short port, std::string const& target,
                      Timeout timeout) {
    HttpResponse out;
    net::io_context ioc;
    tcp::socket socket{ioc};
    auto const deadline = Clock::now() + timeout;
    out.error = connect_socket(ioc, socket, host, port, 0, deadline);
    if (!out.error.empty()) {
        return out;
    }
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host + ":" + std::to_string(port));
    req.set(http::field::connection, "close");

    bool done = false;
    error_code ec;
    http::async_write(socket, req, [&](error_code e, std::size_t) {
        ec = e;
        done = true;
    });
    if (!run_until(ioc, done, deadline) || ec) {
        out.error = done ? "write: " + ec.message() : "write timed out";
        socket.close(ec);
        drain(ioc, Timeout{100});
        return out;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    done = false;
    http::async_read(socket, buffer, parser, [&](error_code e, std::size_t) {
        ec = e;
        done = true;
    });
    if (!run_until(ioc, done, deadline) || ec) {
        out.error = done ? "read: " + ec.message() : "read timed out";
        socket.close(ec);
        drain(ioc, Timeout{100});
        return out;
    }
    auto const& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.content_type = std::string(res[http::field::content_type]);
    out.body = res.body();
    return out;
}

// ---------------------------------------------------------------------------------------------
// RawTcp

int RawFrame::close_code() const noexcept {
    if (payload.size() < 2) {
        return 1005;
    }
    return (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
}

struct RawTcp::Impl {
    net::io_context ioc;
    tcp::socket socket{ioc};
    std::string host;
    unsigned short port = 0;
    std::string pending; // bytes read but not consumed yet
    bool eof = false;

    /** Appends at least one byte to `pending`; false on timeout or end of stream. */
    bool fill(Clock::time_point deadline) {
        if (eof) {
            return false;
        }
        std::array<char, 64 * 1024> chunk{};
        bool done = false;
        error_code ec;
        std::size_t n = 0;
        socket.async_read_some(net::buffer(chunk), [&](error_code e, std::size_t got) {
            ec = e;
            n = got;
            done = true;
        });
        if (!run_until(ioc, done, deadline)) {
            socket.cancel(ec);
            run_until(ioc, done, Clock::now() + Timeout{1000}); // the handler refers to locals
            pending.append(chunk.data(), n);
            return n > 0;
        }
        pending.append(chunk.data(), n);
        if (ec) {
            eof = true;
        }
        return n > 0;
    }
};

RawTcp::RawTcp(std::string const& host, unsigned short port, Timeout timeout)
    : impl_(std::make_unique<Impl>()) {
    impl_->host = host;
    impl_->port = port;
    auto err = connect_socket(impl_->ioc, impl_->socket, host, port, 0, Clock::now() + timeout);
    if (!err.empty()) {
        throw std::runtime_error("RawTcp: " + err);
    }
}

RawTcp::~RawTcp() { close(); }

bool RawTcp::send(std::string_view bytes, Timeout timeout) {
    bool done = false;
    error_code ec;
    net::async_write(impl_->socket, net::buffer(bytes.data(), bytes.size()),
                     [&](error_code e, std::size_t) {
                         ec = e;
                         done = true;
                     });
    if (!run_until(impl_->ioc, done, Clock::now() + timeout)) {
        impl_->socket.close(ec);
        run_until(impl_->ioc, done, Clock::now() + Timeout{1000}); // the handler refers to locals
        return false;
    }
    return !ec;
}

std::string RawTcp::read_some(Timeout timeout) {
    auto& im = *impl_;
    if (im.pending.empty()) {
        im.fill(Clock::now() + timeout);
    }
    return std::exchange(im.pending, {});
}

std::string RawTcp::read_until_close(Timeout timeout) {
    auto& im = *impl_;
    auto const deadline = Clock::now() + timeout;
    while (!im.eof && Clock::now() < deadline) {
        im.fill(deadline);
    }
    return std::exchange(im.pending, {});
}

bool RawTcp::peer_closed() const noexcept { return impl_->eof; }

int RawTcp::websocket_handshake(std::string const& target, Timeout timeout, std::string_view also,
                                std::string_view key, std::string_view headers) {
    auto& im = *impl_;
    auto const deadline = Clock::now() + timeout;
    std::string req = "GET " + target + " HTTP/1.1\r\n";
    req += "Host: " + im.host + ":" + std::to_string(im.port) + "\r\n";
    req += "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    req += "Sec-WebSocket-Key: " + std::string(key) + "\r\nSec-WebSocket-Version: 13\r\n";
    req += headers;
    req += "\r\n";
    req += also;
    if (!send(req, timeout)) {
        return 0;
    }
    std::size_t end = std::string::npos;
    while ((end = im.pending.find("\r\n\r\n")) == std::string::npos) {
        if (!im.fill(deadline)) {
            return 0;
        }
    }
    auto const head = im.pending.substr(0, end);
    im.pending.erase(0, end + 4);
    // "HTTP/1.1 101 Switching Protocols"
    auto const sp = head.find(' ');
    if (sp == std::string::npos || head.size() < sp + 4) {
        return 0;
    }
    return std::stoi(head.substr(sp + 1, 3));
}

bool RawTcp::send_frame(int opcode, std::string_view payload, bool fin, Timeout timeout) {
    return send(client_frame(opcode, payload, fin), timeout);
}

std::string RawTcp::client_frame(int opcode, std::string_view payload, bool fin) {
    std::string frame;
    frame.push_back(static_cast<char>((fin ? 0x80 : 0x00) | (opcode & 0x0f)));
    auto const n = payload.size();
    if (n < 126) {
        frame.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xffff) {
        frame.push_back(static_cast<char>(0x80 | 126));
        frame.push_back(static_cast<char>((n >> 8) & 0xff));
        frame.push_back(static_cast<char>(n & 0xff));
    } else {
        frame.push_back(static_cast<char>(0x80 | 127));
        for (int shift = 56; shift >= 0; shift -= 8) {
            frame.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff));
        }
    }
    std::array<unsigned char, 4> const mask{0x37, 0xfa, 0x21, 0x3d};
    for (auto m : mask) {
        frame.push_back(static_cast<char>(m));
    }
    auto const start = frame.size();
    frame.append(payload);
    for (std::size_t i = 0; i < n; ++i) {
        frame[start + i] =
            static_cast<char>(static_cast<unsigned char>(frame[start + i]) ^ mask[i % 4]);
    }
    return frame;
}

RawFrame RawTcp::read_frame(Timeout timeout) {
    auto& im = *impl_;
    auto const deadline = Clock::now() + timeout;
    auto need = [&](std::size_t bytes) {
        while (im.pending.size() < bytes) {
            if (!im.fill(deadline)) {
                return false;
            }
        }
        return true;
    };
    if (!need(2)) {
        return {};
    }
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(im.pending[i]); };
    RawFrame f;
    f.fin = (byte(0) & 0x80) != 0;
    auto const opcode = byte(0) & 0x0f;
    bool const masked = (byte(1) & 0x80) != 0;
    std::uint64_t len = byte(1) & 0x7f;
    std::size_t header = 2;
    if (len == 126) {
        if (!need(4)) {
            return {};
        }
        len = (std::uint64_t{byte(2)} << 8) | byte(3);
        header = 4;
    } else if (len == 127) {
        if (!need(10)) {
            return {};
        }
        len = 0;
        for (std::size_t i = 2; i < 10; ++i) {
            len = (len << 8) | byte(i);
        }
        header = 10;
    }
    std::size_t const mask_at = header;
    if (masked) {
        header += 4;
    }
    if (!need(header + len)) {
        return {};
    }
    f.opcode = opcode;
    f.payload = im.pending.substr(header, len);
    if (masked) {
        for (std::size_t i = 0; i < f.payload.size(); ++i) {
            f.payload[i] =
                static_cast<char>(static_cast<unsigned char>(f.payload[i]) ^ byte(mask_at + i % 4));
        }
    }
    im.pending.erase(0, header + len);
    return f;
}

void RawTcp::close() {
    error_code ec;
    impl_->socket.close(ec);
    drain(impl_->ioc, Timeout{50});
}

void RawTcp::reset() {
    set_linger_zero(impl_->socket);
    close();
}

} // namespace canal::test
