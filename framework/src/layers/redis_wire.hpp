// channels_redis' wire format, sans I/O: message payloads (12 random bytes + msgpack), key
// names, the consistent hash that picks a shard, and capacity patterns.
#pragma once

#include "layers/capacity_table.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace canal::detail {

/** Where a message is going: `__asgi_channel__` as channels_redis writes it. */
struct AsgiChannel {
    /** A string (send to a process-specific channel); empty: no field. */
    std::string_view single;
    /** A list (group_send); used when not null. */
    std::vector<std::string> const* list = nullptr;
};

/**
 * Serializes `message` the way channels_redis 4 does: 12 random bytes (so that equal
 * messages stay distinct members of the sorted set) followed by a msgpack map, with
 * `__asgi_channel__` added when `to` says so.
 */
std::string encode_payload(boost::json::object const& message, AsgiChannel to,
                           std::mt19937_64& rng);

/**
 * The msgpack part of a group_send payload without its last value: the map header counts
 * one more entry than `message` has, and the bytes end with the key `__asgi_channel__`, so
 * that a Lua script can append the list of channels (cmsgpack) per Redis key. No prefix.
 */
std::string encode_payload_head(boost::json::object const& message);

/** A decoded payload: the message, and the channels named by `__asgi_channel__`. */
struct DecodedPayload {
    /** The message without `__asgi_channel__`. */
    boost::json::object message;
    /** The target channels (one for a string, several for a list, none when absent). */
    std::vector<std::string> channels;
};

/**
 * Parses a payload written by encode_payload() or by channels_redis. msgpack strings and
 * binaries become JSON strings (bytes kept as they are), integers and floats JSON numbers.
 *
 * @throws canal::Error when the payload is malformed, is not a map with string keys, or
 * holds msgpack extension types.
 */
DecodedPayload decode_payload(std::string_view payload);

/** channels_redis' `_consistent_hash`: CRC-32 of the name, 4096 buckets over `ring_size`. */
std::size_t consistent_hash(std::string_view value, std::size_t ring_size);

/** The part of a process-specific channel name up to and including `!`; else the name. */
std::string_view non_local_name(std::string_view channel);

} // namespace canal::detail
