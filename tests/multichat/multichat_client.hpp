// Test clients of the multichat over real sockets: HTTP with a cookie jar, and a websocket
// that sends cookies and an Origin header (both on RawTcp, so no Beast in this test).
#pragma once

#include "support/ws_client.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace canal::test {

/** An HTTP response with its headers (names lower-cased). */
struct FullResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    /** The first header called `name`, or empty. */
    [[nodiscard]] std::string header(std::string const& name) const {
        for (auto const& [k, v] : headers) {
            if (k == name) {
                return v;
            }
        }
        return {};
    }
};

inline std::string lower_ascii(std::string s) {
    for (auto& c : s) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return s;
}

/** Splits "HTTP/1.1 200 OK\r\nA: b\r\n..." into status and headers. */
inline void parse_head(std::string const& head, int& status,
                       std::vector<std::pair<std::string, std::string>>& headers) {
    auto const sp = head.find(' ');
    status = sp == std::string::npos ? 0 : std::stoi(head.substr(sp + 1, 3));
    std::size_t at = head.find("\r\n");
    while (at != std::string::npos && at + 2 < head.size()) {
        auto const next = head.find("\r\n", at + 2);
        auto const line =
            head.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
        auto const colon = line.find(':');
        if (colon != std::string::npos) {
            auto value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') {
                value.erase(0, 1);
            }
            headers.emplace_back(lower_ascii(line.substr(0, colon)), value);
        }
        at = next;
    }
}

/** A browser-like HTTP client: keeps the cookies the server sets. */
class Browser {
public:
    explicit Browser(unsigned short port) : port_(port) {}

    /** The cookie header value for requests. */
    [[nodiscard]] std::string cookie_header() const {
        std::string out;
        for (auto const& [k, v] : jar_) {
            out += (out.empty() ? "" : "; ") + k + "=" + v;
        }
        return out;
    }
    [[nodiscard]] std::optional<std::string> cookie(std::string const& name) const {
        auto found = jar_.find(name);
        return found == jar_.end() ? std::nullopt : std::optional<std::string>(found->second);
    }
    void set_cookie(std::string const& name, std::string const& value) { jar_[name] = value; }
    void forget_cookie(std::string const& name) { jar_.erase(name); }

    FullResponse request(std::string const& method, std::string const& target,
                         std::string const& body = {}, std::string const& content_type = {}) {
        RawTcp tcp("127.0.0.1", port_);
        std::string req = method + " " + target +
                          " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                          "\r\nConnection: close\r\n";
        if (!jar_.empty()) {
            req += "Cookie: " + cookie_header() + "\r\n";
        }
        if (!content_type.empty()) {
            req += "Content-Type: " + content_type + "\r\n";
        }
        if (method == "POST") {
            req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
        }
        req += "\r\n" + body;
        FullResponse out;
        if (!tcp.send(req)) {
            return out;
        }
        auto const raw = tcp.read_until_close();
        auto const end = raw.find("\r\n\r\n");
        if (end == std::string::npos) {
            return out;
        }
        parse_head(raw.substr(0, end), out.status, out.headers);
        out.body = raw.substr(end + 4);
        for (auto const& [k, v] : out.headers) {
            if (k != "set-cookie") {
                continue;
            }
            auto const eq = v.find('=');
            auto const semi = v.find(';');
            auto name = v.substr(0, eq);
            auto value =
                v.substr(eq + 1, semi == std::string::npos ? std::string::npos : semi - eq - 1);
            if (v.find("Max-Age=0") != std::string::npos) {
                jar_.erase(name);
            } else {
                jar_[name] = value;
            }
        }
        return out;
    }

    FullResponse get(std::string const& target) { return request("GET", target); }

private:
    unsigned short port_;
    std::map<std::string, std::string> jar_;
};

/** A websocket over RawTcp with custom headers; reads server frames itself. */
class Stream {
public:
    /** Connects and upgrades; `status()` is 101 on success, the refusing status otherwise. */
    Stream(unsigned short port, std::string const& target, std::string const& cookie,
           std::optional<std::string> const& origin)
        : tcp_(std::make_unique<RawTcp>("127.0.0.1", port)) {
        std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\n";
        if (!cookie.empty()) {
            req += "Cookie: " + cookie + "\r\n";
        }
        if (origin) {
            req += "Origin: " + *origin + "\r\n";
        }
        req += "\r\n";
        if (!tcp_->send(req)) {
            return;
        }
        auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        std::size_t end = std::string::npos;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (std::chrono::steady_clock::now() > deadline) {
                return;
            }
            auto more = tcp_->read_some(std::chrono::milliseconds(500));
            if (more.empty() && tcp_->peer_closed()) {
                return;
            }
            buffer_ += more;
        }
        std::vector<std::pair<std::string, std::string>> headers;
        parse_head(buffer_.substr(0, end), status_, headers);
        buffer_.erase(0, end + 4);
    }

    [[nodiscard]] int status() const noexcept { return status_; }

    bool send_json(boost::json::object const& obj) {
        return tcp_->send_frame(1, boost::json::serialize(obj));
    }

    /**
     * The next text message as JSON, skipping pings; nothing on timeout. A close frame gives
     * `{"_close": CODE}`.
     */
    std::optional<boost::json::object>
    read(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        auto const deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto frame = next_frame()) {
                auto [opcode, payload] = std::move(*frame);
                if (opcode == 1) {
                    return boost::json::parse(payload).as_object();
                }
                if (opcode == 8) {
                    int code = payload.size() >= 2 ? (static_cast<unsigned char>(payload[0]) << 8) |
                                                         static_cast<unsigned char>(payload[1])
                                                   : 1005;
                    boost::json::object closed;
                    closed["_close"] = code;
                    return closed;
                }
                continue; // ping, pong
            }
            auto const now = std::chrono::steady_clock::now();
            if (now >= deadline) {
                return std::nullopt;
            }
            auto more = tcp_->read_some(
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
            if (more.empty() && tcp_->peer_closed()) {
                return std::nullopt;
            }
            buffer_ += more;
        }
    }

    /** Sends a close frame and closes the socket. */
    void close() {
        (void)tcp_->send_frame(8, std::string("\x03\xe8", 2));
        tcp_->close();
    }

private:
    std::optional<std::pair<int, std::string>> next_frame() {
        if (buffer_.size() < 2) {
            return std::nullopt;
        }
        auto byte = [&](std::size_t i) { return static_cast<unsigned char>(buffer_[i]); };
        int const opcode = byte(0) & 0x0f;
        std::uint64_t len = byte(1) & 0x7f;
        std::size_t header = 2;
        if (len == 126) {
            if (buffer_.size() < 4) {
                return std::nullopt;
            }
            len = (std::uint64_t{byte(2)} << 8) | byte(3);
            header = 4;
        } else if (len == 127) {
            if (buffer_.size() < 10) {
                return std::nullopt;
            }
            len = 0;
            for (std::size_t i = 2; i < 10; ++i) {
                len = (len << 8) | byte(i);
            }
            header = 10;
        }
        if (buffer_.size() < header + len) {
            return std::nullopt;
        }
        auto payload = buffer_.substr(header, len);
        buffer_.erase(0, header + len);
        return std::make_pair(opcode, std::move(payload));
    }

    std::unique_ptr<RawTcp> tcp_;
    std::string buffer_;
    int status_ = 0;
};

} // namespace canal::test
