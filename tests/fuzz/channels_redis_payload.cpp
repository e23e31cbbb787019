// Fuzz target: channels_redis message payloads read from Redis (12 random bytes, then a
// msgpack map, `__asgi_channel__` naming the channel(s) of a group message). Anything that
// can write to the Redis server controls them. A bad payload is a canal::Error (the layer
// skips it and logs); a good one encodes back to a payload that decodes to the same message.
#include "layers/redis_wire.hpp"

#include <canal/core/errors.hpp>

#include "fuzz_input.hpp"

#include <boost/json/value.hpp>

#include <cmath>
#include <random>

namespace {

bool has_nan(boost::json::value const& v) {
    if (v.is_double()) {
        return std::isnan(v.get_double());
    }
    if (auto const* a = v.if_array()) {
        for (auto const& e : *a) {
            if (has_nan(e)) {
                return true;
            }
        }
    }
    if (auto const* o = v.if_object()) {
        for (auto const& kv : *o) {
            if (has_nan(kv.value())) {
                return true;
            }
        }
    }
    return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    canal::detail::DecodedPayload decoded;
    try {
        decoded = canal::detail::decode_payload(canal::fuzz::text(data, size));
    } catch (canal::Error const&) {
        return 0;
    }
    if (decoded.message.contains("__asgi_channel__")) {
        canal::fuzz::broken("__asgi_channel__ left in the decoded message");
    }
    std::mt19937_64 rng(42);
    canal::detail::AsgiChannel to;
    if (!decoded.channels.empty()) {
        to.list = &decoded.channels;
    }
    auto const again = canal::detail::decode_payload(
        canal::detail::encode_payload(decoded.message, to, rng));
    // NaN is never equal to itself: compare what can be compared.
    if ((again.message != decoded.message && !has_nan(decoded.message)) ||
        again.channels != decoded.channels) {
        canal::fuzz::broken("a decoded payload does not survive encoding and decoding");
    }
    return 0;
}
