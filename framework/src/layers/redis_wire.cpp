// channels_redis' wire format with msgpack-cxx (built without Boost) and Boost.CRC.
#include "layers/redis_wire.hpp"

#include <canal/core/errors.hpp>

#include <boost/crc.hpp>
#include <boost/json/value.hpp>

#include <msgpack.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace canal::detail {

namespace {

constexpr std::size_t random_prefix_size = 12;
constexpr std::string_view channel_field = "__asgi_channel__";
constexpr std::size_t max_depth = 64;

using Packer = msgpack::packer<msgpack::sbuffer>;

void pack_string(Packer& pk, std::string_view s) {
    pk.pack_str(static_cast<std::uint32_t>(s.size()));
    pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

// msgpack-cxx 4.1's pack_double() writes a double with an integral value as an integer, so
// 1.0 arrived as 1 (found by fuzzing). Python's msgpack writes every float as float64: so
// does this, through pack_bin_body(), which appends raw bytes.
void pack_float64(Packer& pk, double d) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &d, sizeof bits);
    std::array<char, 9> out{};
    out[0] = static_cast<char>(0xcb);
    for (std::size_t i = 0; i < 8; ++i) {
        out[1 + i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xff);
    }
    pk.pack_bin_body(out.data(), static_cast<std::uint32_t>(out.size()));
}

void pack_value(Packer& pk, boost::json::value const& v, std::size_t depth);

void pack_object(Packer& pk, boost::json::object const& o, std::size_t depth) {
    pk.pack_map(static_cast<std::uint32_t>(o.size()));
    for (auto const& kv : o) {
        pack_string(pk, kv.key());
        pack_value(pk, kv.value(), depth + 1);
    }
}

void pack_value(Packer& pk, boost::json::value const& v, std::size_t depth) {
    if (depth > max_depth) {
        throw Error("message nests deeper than " + std::to_string(max_depth) + " levels");
    }
    switch (v.kind()) {
    case boost::json::kind::null:
        pk.pack_nil();
        break;
    case boost::json::kind::bool_:
        if (v.get_bool()) {
            pk.pack_true();
        } else {
            pk.pack_false();
        }
        break;
    case boost::json::kind::int64:
        pk.pack_int64(v.get_int64());
        break;
    case boost::json::kind::uint64:
        pk.pack_uint64(v.get_uint64());
        break;
    case boost::json::kind::double_:
        pack_float64(pk, v.get_double());
        break;
    case boost::json::kind::string:
        pack_string(pk, v.get_string());
        break;
    case boost::json::kind::array: {
        auto const& a = v.get_array();
        pk.pack_array(static_cast<std::uint32_t>(a.size()));
        for (auto const& e : a) {
            pack_value(pk, e, depth + 1);
        }
        break;
    }
    case boost::json::kind::object:
        pack_object(pk, v.get_object(), depth);
        break;
    }
}

boost::json::value to_json(msgpack::object const& o, std::size_t depth) {
    if (depth > max_depth) {
        throw Error("payload nests deeper than " + std::to_string(max_depth) + " levels");
    }
    switch (o.type) {
    case msgpack::type::NIL:
        return nullptr;
    case msgpack::type::BOOLEAN:
        return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER:
        // As boost::json::parse does: int64 when it fits, so that as_int64() works on what
        // another process sent (msgpack has no sign for non-negative integers).
        if (o.via.u64 <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return static_cast<std::int64_t>(o.via.u64);
        }
        return o.via.u64;
    case msgpack::type::NEGATIVE_INTEGER:
        return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
        return o.via.f64;
    case msgpack::type::STR:
        return boost::json::string(std::string_view(o.via.str.ptr, o.via.str.size));
    case msgpack::type::BIN:
        return boost::json::string(std::string_view(o.via.bin.ptr, o.via.bin.size));
    case msgpack::type::ARRAY: {
        boost::json::array a;
        a.reserve(o.via.array.size);
        for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
            a.push_back(to_json(o.via.array.ptr[i], depth + 1));
        }
        return a;
    }
    case msgpack::type::MAP: {
        boost::json::object m;
        for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
            auto const& kv = o.via.map.ptr[i];
            if (kv.key.type != msgpack::type::STR) {
                throw Error("payload has a map key that is not a string");
            }
            m[std::string_view(kv.key.via.str.ptr, kv.key.via.str.size)] =
                to_json(kv.val, depth + 1);
        }
        return m;
    }
    case msgpack::type::EXT:
        break;
    }
    throw Error("payload holds a msgpack extension type, which has no JSON form");
}

} // namespace

std::string encode_payload(boost::json::object const& message, AsgiChannel to,
                           std::mt19937_64& rng) {
    msgpack::sbuffer buffer(256);
    Packer pk(buffer);
    bool const with_channel = to.list != nullptr || !to.single.empty();
    std::size_t fields = 0;
    for (auto const& kv : message) {
        if (kv.key() != channel_field) {
            ++fields;
        }
    }
    pk.pack_map(static_cast<std::uint32_t>(fields + (with_channel ? 1 : 0)));
    for (auto const& kv : message) {
        if (kv.key() == channel_field) {
            continue;
        }
        pack_string(pk, kv.key());
        pack_value(pk, kv.value(), 1);
    }
    if (with_channel) {
        pack_string(pk, channel_field);
        if (to.list != nullptr) {
            pk.pack_array(static_cast<std::uint32_t>(to.list->size()));
            for (auto const& c : *to.list) {
                pack_string(pk, c);
            }
        } else {
            pack_string(pk, to.single);
        }
    }
    std::string out;
    out.reserve(random_prefix_size + buffer.size());
    auto const a = rng();
    auto const b = rng();
    for (std::size_t i = 0; i < 8; ++i) {
        out += static_cast<char>((a >> (8 * i)) & 0xff);
    }
    for (std::size_t i = 0; i < 4; ++i) {
        out += static_cast<char>((b >> (8 * i)) & 0xff);
    }
    out.append(buffer.data(), buffer.size());
    return out;
}

std::string encode_payload_head(boost::json::object const& message) {
    msgpack::sbuffer buffer(256);
    Packer pk(buffer);
    std::size_t fields = 0;
    for (auto const& kv : message) {
        if (kv.key() != channel_field) {
            ++fields;
        }
    }
    pk.pack_map(static_cast<std::uint32_t>(fields + 1));
    for (auto const& kv : message) {
        if (kv.key() == channel_field) {
            continue;
        }
        pack_string(pk, kv.key());
        pack_value(pk, kv.value(), 1);
    }
    pack_string(pk, channel_field);
    return std::string(buffer.data(), buffer.size());
}

DecodedPayload decode_payload(std::string_view payload) {
    if (payload.size() <= random_prefix_size) {
        throw Error("payload of " + std::to_string(payload.size()) +
                    " bytes is too short for channels_redis' format");
    }
    auto const body = payload.substr(random_prefix_size);
    msgpack::object_handle handle;
    try {
        std::size_t offset = 0;
        // Every element takes at least one byte, so a count larger than the payload is a
        // lie: refuse it before msgpack reserves room for it (a 5-byte array header can
        // claim 4 billion elements, 64 GiB of msgpack objects).
        auto const n = body.size();
        msgpack::unpack_limit const limit(n, n / 2, n, n, n, max_depth);
        handle = msgpack::unpack(body.data(), body.size(), offset, nullptr, nullptr, limit);
        if (offset != body.size()) {
            throw Error("payload has " + std::to_string(body.size() - offset) +
                        " trailing bytes after the msgpack map");
        }
    } catch (msgpack::unpack_error const& e) {
        throw Error(std::string("payload is not valid msgpack: ") + e.what());
    } catch (msgpack::type_error const& e) {
        throw Error(std::string("payload is not valid msgpack: ") + e.what());
    }
    auto const& root = handle.get();
    if (root.type != msgpack::type::MAP) {
        throw Error("payload is not a msgpack map");
    }
    DecodedPayload out;
    auto value = to_json(root, 0);
    out.message = std::move(value.as_object());
    if (auto* field = out.message.if_contains(channel_field)) {
        if (field->is_string()) {
            out.channels.emplace_back(field->get_string());
        } else if (field->is_array()) {
            for (auto const& c : field->get_array()) {
                if (!c.is_string()) {
                    throw Error("payload's __asgi_channel__ list holds a non-string");
                }
                out.channels.emplace_back(c.get_string());
            }
        } else {
            throw Error("payload's __asgi_channel__ is neither a string nor a list");
        }
        out.message.erase(channel_field);
    }
    return out;
}

std::size_t consistent_hash(std::string_view value, std::size_t ring_size) {
    if (ring_size <= 1) {
        return 0;
    }
    boost::crc_32_type crc;
    crc.process_bytes(value.data(), value.size());
    auto const bucket = static_cast<double>(crc.checksum() & 0xFFFu);
    auto const divisor = 4096.0 / static_cast<double>(ring_size);
    return static_cast<std::size_t>(bucket / divisor);
}

std::string_view non_local_name(std::string_view channel) {
    auto const bang = channel.find('!');
    return bang == std::string_view::npos ? channel : channel.substr(0, bang + 1);
}

} // namespace canal::detail
