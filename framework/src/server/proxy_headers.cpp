// apply_proxy_headers: X-Forwarded-* from trusted proxies into the scope.
#include "server/proxy_headers.hpp"

#include "detail/ascii.hpp"

#include <canal/server/settings.hpp>

#include <boost/asio/ip/address.hpp>

#include <charconv>

namespace canal::detail {

namespace ip = boost::asio::ip;

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// The last value of a header (a proxy appends; a repeated header is read as one list).
std::string joined(Scope const& scope, std::string_view name) {
    std::string out;
    for (auto const& [key, value] : scope.headers) {
        if (key == name) {
            out += (out.empty() ? "" : ",") + value;
        }
    }
    return out;
}

} // namespace

TrustedProxies::TrustedProxies(std::vector<std::string> const& blocks) {
    for (auto const& text : blocks) {
        boost::system::error_code ec;
        auto const slash = text.find('/');
        auto const address = ip::make_address(text.substr(0, slash), ec);
        unsigned prefix = address.is_v4() ? 32 : 128;
        bool ok = !ec;
        if (ok && slash != std::string::npos) {
            auto const digits = std::string_view(text).substr(slash + 1);
            auto [end, pec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
            ok = pec == std::errc() && end == digits.data() + digits.size() && !digits.empty() &&
                 prefix <= (address.is_v4() ? 32U : 128U);
        }
        if (!ok) {
            throw InvalidSetting("--trusted-proxies: '" + text +
                                 "' is not an IP address or a CIDR block such as 10.0.0.0/8");
        }
        if (address.is_v4()) {
            blocks_.emplace_back(ip::network_v4(address.to_v4(), prefix).canonical());
        } else {
            blocks_.emplace_back(ip::network_v6(address.to_v6(), prefix).canonical());
        }
    }
}

bool TrustedProxies::contains(std::string_view text) const {
    boost::system::error_code ec;
    auto address = ip::make_address(text, ec);
    if (ec) {
        return false;
    }
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        address = ip::make_address_v4(ip::v4_mapped, address.to_v6());
    }
    for (auto const& block : blocks_) {
        if (auto const* v4 = std::get_if<ip::network_v4>(&block); v4 && address.is_v4()) {
            if (ip::network_v4(address.to_v4(), v4->prefix_length()).canonical() == *v4) {
                return true;
            }
        } else if (auto const* v6 = std::get_if<ip::network_v6>(&block); v6 && address.is_v6()) {
            if (ip::network_v6(address.to_v6(), v6->prefix_length()).canonical() == *v6) {
                return true;
            }
        }
    }
    return false;
}

void apply_proxy_headers(Scope& scope, TrustedProxies const& trusted, bool local_peer) {
    bool const peer_trusted = local_peer || (scope.client && trusted.contains(scope.client->host));
    if (!peer_trusted) {
        return;
    }
    auto const forwarded = joined(scope, "x-forwarded-for");
    if (!forwarded.empty()) {
        std::vector<std::string_view> hops;
        std::string_view rest = forwarded;
        for (;;) {
            auto const comma = rest.find(',');
            hops.push_back(trim(rest.substr(0, comma)));
            if (comma == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(comma + 1);
        }
        std::string_view chosen = hops.front();
        for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
            if (!trusted.contains(*it)) {
                chosen = *it;
                break;
            }
        }
        boost::system::error_code ec;
        auto const address = ip::make_address(chosen, ec);
        if (!ec) {
            unsigned short port = 0;
            auto const port_header = joined(scope, "x-forwarded-port");
            auto const port_text = trim(port_header); // a view into port_header
            unsigned value = 0;
            auto [end, pec] =
                std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
            if (pec == std::errc() && end == port_text.data() + port_text.size() && value <= 65535) {
                port = static_cast<unsigned short>(value);
            }
            scope.client = Endpoint{address.to_string(), port};
        }
    }
    auto proto = joined(scope, "x-forwarded-proto");
    if (auto const comma = proto.find(','); comma != std::string::npos) {
        proto = proto.substr(0, comma); // the first proxy saw the client's scheme
    }
    proto = ascii_lower(std::string(trim(proto)));
    bool const websocket = scope.type == "websocket";
    if (proto == "https" || proto == "wss") {
        scope.scheme = websocket ? "wss" : "https";
    } else if (proto == "http" || proto == "ws") {
        scope.scheme = websocket ? "ws" : "http";
    }
}

} // namespace canal::detail
