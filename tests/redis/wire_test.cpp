// channels_redis' wire format without Redis: payloads, shard hashing, capacity patterns.
#include "layers/redis_wire.hpp"

#include <canal/core/errors.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <fnmatch.h>

#include <cmath>

#include <string>
#include <vector>

using canal::detail::AsgiChannel;
using canal::detail::CapacityTable;
using canal::detail::consistent_hash;
using canal::detail::decode_payload;
using canal::detail::encode_payload;
using canal::detail::encode_payload_head;
using canal::detail::glob_match;
using canal::detail::non_local_name;

namespace {

std::string from_hex(std::string_view hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    }
    return out;
}

// `depth` one-element msgpack arrays, as hex.
std::string nested_arrays(int depth) {
    std::string out;
    for (int i = 0; i < depth; ++i) {
        out += "91";
    }
    return out;
}

std::string const prefix12 = "0123456789ab"; // stands for channels_redis' random bytes

// A message serialized by channels_redis 4 (RedisChannelLayer.serialize, Python's msgpack):
// {"type": "chat.message", "text": "héllo", "n": -5, "big": 2**40, "f": 1.5, "ok": True,
//  "none": None, "list": [1, "two", [3]], "obj": {"k": "v"},
//  "__asgi_channel__": ["specific.x!a", "specific.x!b"]}
std::string const python_payload = from_hex(
    "42825d68aa2614fc198bcd398aa474797065ac636861742e6d657373616765a474657874a668c3a96c6c6f"
    "a16efba3626967cf0000010000000000a166cb3ff8000000000000a26f6bc3a46e6f6e65c0a46c69737493"
    "01a374776f9103a36f626a81a16ba176b05f5f617367695f6368616e6e656c5f5f92ac7370656369666963"
    "2e782161ac73706563696669632e782162");

boost::json::object python_message() {
    return boost::json::parse(R"({"type": "chat.message", "text": "héllo", "n": -5,
        "big": 1099511627776, "f": 1.5, "ok": true, "none": null, "list": [1, "two", [3]],
        "obj": {"k": "v"}})")
        .as_object();
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_wire)

BOOST_AUTO_TEST_CASE(a_payload_from_channels_redis_decodes) {
    auto const decoded = decode_payload(python_payload);
    BOOST_TEST(decoded.message == python_message(), boost::json::serialize(decoded.message));
    BOOST_TEST(!decoded.message.contains("__asgi_channel__"));
    std::vector<std::string> const channels{"specific.x!a", "specific.x!b"};
    BOOST_TEST(decoded.channels == channels);
    // Small non-negative integers come back as int64, as JSON parsing gives them.
    BOOST_TEST(decoded.message.at("list").as_array()[0].is_int64());
    BOOST_TEST(decoded.message.at("big").is_int64());
}

BOOST_AUTO_TEST_CASE(our_payload_is_byte_for_byte_what_channels_redis_writes) {
    std::mt19937_64 rng(42);
    std::vector<std::string> const channels{"specific.x!a", "specific.x!b"};
    AsgiChannel to;
    to.list = &channels;
    auto const ours = encode_payload(python_message(), to, rng);
    BOOST_TEST(ours.size() == python_payload.size());
    BOOST_TEST(ours.substr(12) == python_payload.substr(12)); // all but the random prefix
}

BOOST_AUTO_TEST_CASE(round_trip_of_every_json_kind) {
    auto const message = boost::json::parse(R"({"type": "t", "s": "", "u": "ünï \u0000 x",
        "i": 0, "neg": -9223372036854775808, "max": 9223372036854775807,
        "huge": 18446744073709551615, "f": -0.25, "t": true, "fa": false, "nil": null,
        "a": [], "nested": {"a": [1, [2, [3, {"b": {"c": null}}]]], "o": {}}})")
                             .as_object();
    std::mt19937_64 rng(1);
    auto const payload = encode_payload(message, AsgiChannel{}, rng);
    auto const decoded = decode_payload(payload);
    BOOST_TEST(decoded.message == message, boost::json::serialize(decoded.message));
    BOOST_TEST(decoded.channels.empty());
    BOOST_TEST(decoded.message.at("i").is_int64());
    BOOST_TEST(decoded.message.at("max").is_int64());
    BOOST_TEST(decoded.message.at("huge").is_uint64());
}

BOOST_AUTO_TEST_CASE(floats_stay_floats_even_with_integral_values) {
    // Found by fuzzing: msgpack-cxx's pack_double() wrote 1.0 as the integer 1. channels_redis
    // (Python's msgpack) writes every float as float64 (0xcb), and so does canal.
    auto const message =
        boost::json::parse(R"({"type": "t", "one": 1.0, "zero": -0.0, "big": 1e300, "h": 0.5})")
            .as_object();
    std::mt19937_64 rng(1);
    auto const payload = encode_payload(message, AsgiChannel{}, rng);
    auto const decoded = decode_payload(payload);
    for (auto const* key : {"one", "zero", "big", "h"}) {
        BOOST_TEST(decoded.message.at(key).is_double(), key << ": "
                                                            << boost::json::serialize(
                                                                   decoded.message.at(key)));
    }
    BOOST_TEST(decoded.message.at("one").as_double() == 1.0);
    BOOST_TEST(std::signbit(decoded.message.at("zero").as_double()));
    // {"one": 1.0} as Python's msgpack.packb writes it, after the 12-byte prefix.
    auto const python = encode_payload_head(boost::json::parse(R"({"one": 1.0})").as_object());
    BOOST_TEST(python.find(from_hex("a36f6e65cb3ff0000000000000")) != std::string::npos,
               "no float64 1.0 in the payload");
}

BOOST_AUTO_TEST_CASE(twelve_random_bytes_then_msgpack) {
    std::mt19937_64 rng(7);
    boost::json::object m;
    m["type"] = "a";
    auto const one = encode_payload(m, AsgiChannel{}, rng);
    auto const two = encode_payload(m, AsgiChannel{}, rng);
    std::string const body = from_hex("81a474797065a161"); // {"type": "a"}
    BOOST_TEST(one.size() == 12 + body.size());
    BOOST_TEST(one.substr(12) == body);
    BOOST_TEST(two.substr(12) == body);
    BOOST_TEST(one.substr(0, 12) != two.substr(0, 12)); // equal messages stay distinct
}

BOOST_AUTO_TEST_CASE(asgi_channel_is_a_string_for_send_and_a_list_for_group_send) {
    std::mt19937_64 rng(7);
    boost::json::object m;
    m["type"] = "a";
    m["__asgi_channel__"] = "forged"; // a reserved key in the message is not sent
    AsgiChannel single;
    single.single = "x!y";
    auto const s = encode_payload(m, single, rng);
    BOOST_TEST(s.substr(12) == from_hex("82a474797065a161b05f5f617367695f6368616e6e656c5f5f"
                                        "a3782179"));
    auto const ds = decode_payload(s);
    BOOST_TEST(ds.channels == std::vector<std::string>{"x!y"});
    BOOST_TEST(!ds.message.contains("__asgi_channel__"));

    std::vector<std::string> const list{"p!1", "p!2"};
    AsgiChannel group;
    group.list = &list;
    auto const g = encode_payload(m, group, rng);
    BOOST_TEST(g.substr(12) == from_hex("82a474797065a161b05f5f617367695f6368616e6e656c5f5f"
                                        "92a3702131a3702132"));
    BOOST_TEST(decode_payload(g).channels == list);

    auto const none = decode_payload(encode_payload(m, AsgiChannel{}, rng));
    BOOST_TEST(none.channels.empty());
    BOOST_TEST(!none.message.contains("__asgi_channel__"));
}

BOOST_AUTO_TEST_CASE(malformed_payloads_throw) {
    std::string const channel_key = "b05f5f617367695f6368616e6e656c5f5f"; // "__asgi_channel__"
    std::vector<std::pair<std::string, std::string>> const bad = {
        {"empty", ""},
        {"prefix only", prefix12},
        {"not a map", prefix12 + from_hex("9101")},
        {"trailing bytes", prefix12 + from_hex("8000")},
        {"reserved byte", prefix12 + from_hex("c1")},
        {"truncated map", prefix12 + from_hex("82a161")},
        {"integer key", prefix12 + from_hex("810102")},
        {"extension type", prefix12 + from_hex("81a161d40100")},
        {"channel is a number", prefix12 + from_hex("81" + channel_key + "05")},
        {"channel list holds a number", prefix12 + from_hex("81" + channel_key + "9105")},
        {"too deep", prefix12 + from_hex("81a161" + nested_arrays(80) + "c0")},
        // Counts that the payload is too short to hold (found by fuzzing): refused before
        // msgpack reserves room for them (a map of 4 billion entries: 128 GiB).
        {"map count over the size", prefix12 + from_hex("dfffffffff")},
        {"array count over the size", prefix12 + from_hex("81a161ddffffffff")},
        {"nested map count over the size", prefix12 + from_hex("81a161df7fffffff01")},
    };
    for (auto const& [what, payload] : bad) {
        std::string got = "(nothing thrown)";
        try {
            (void)decode_payload(payload);
        } catch (canal::Error const& e) {
            got = e.what();
        } catch (std::exception const& e) {
            got = std::string("not a canal::Error: ") + e.what();
        }
        BOOST_TEST(got.starts_with("payload"), what << ": " << got);
    }
}

BOOST_AUTO_TEST_CASE(consistent_hash_is_channels_redis_one) {
    // channels_redis.utils._consistent_hash(name, ring) for ring = 1, 2, 3, 5, 16
    // (computed with Debian's python3-channels-redis).
    struct Row {
        std::string name;
        std::size_t shard[5];
    };
    std::vector<Row> const table = {
        {"chat_lobby", {0, 1, 1, 2, 8}},
        {"specific.abc!", {0, 1, 2, 4, 14}},
        {"specific.0123456789abcdef0123456789abcdef!", {0, 0, 1, 1, 5}},
        {"group1", {0, 1, 1, 3, 9}},
        {"a", {0, 1, 2, 4, 14}},
        {"room-1.general", {0, 1, 2, 3, 12}},
        {"asgi:group:x", {0, 0, 0, 1, 4}},
        {std::string(99, 'z'), {0, 0, 0, 1, 3}},
        {"", {0, 0, 0, 0, 0}},
    };
    std::size_t const rings[] = {1, 2, 3, 5, 16};
    for (auto const& row : table) {
        for (std::size_t i = 0; i < 5; ++i) {
            BOOST_TEST(consistent_hash(row.name, rings[i]) == row.shard[i],
                       row.name << " over " << rings[i]);
        }
    }
}

BOOST_AUTO_TEST_CASE(non_local_names) {
    BOOST_TEST(non_local_name("specific.abc!def") == "specific.abc!");
    BOOST_TEST(non_local_name("specific.abc!") == "specific.abc!");
    BOOST_TEST(non_local_name("plain") == "plain");
}

BOOST_AUTO_TEST_CASE(glob_patterns) {
    BOOST_TEST(glob_match("*", ""));
    BOOST_TEST(glob_match("*", "anything"));
    BOOST_TEST(glob_match("http.response!*", "http.response!abc"));
    BOOST_TEST(!glob_match("http.response!*", "http.request"));
    BOOST_TEST(glob_match("chat", "chat"));
    BOOST_TEST(!glob_match("chat", "chat2")); // the whole name
    BOOST_TEST(!glob_match("chat", "xchat"));
    BOOST_TEST(glob_match("ch?t", "chat"));
    BOOST_TEST(!glob_match("ch?t", "cht"));
    BOOST_TEST(glob_match("room[0-9]", "room7"));
    BOOST_TEST(!glob_match("room[0-9]", "roomx"));
    BOOST_TEST(glob_match("room[!0-9]", "roomx"));
    BOOST_TEST(!glob_match("room[!0-9]", "room1"));
    BOOST_TEST(glob_match("[ab]*[cd]", "a--d"));
    BOOST_TEST(!glob_match("[ab]*[cd]", "a--e"));
    BOOST_TEST(glob_match("a*b*c", "aXbYbZc"));
    BOOST_TEST(!glob_match("a*b*c", "aXbYbZ"));
    BOOST_TEST(glob_match("a.b", "a.b"));
    BOOST_TEST(!glob_match("a.b", "aXb")); // '.' is literal, unlike a regex
}

// glob_match is fnmatch(3) with FNM_NOESCAPE (a backslash is an ordinary character, as in
// Python's fnmatch), on these patterns and on the corner cases of brackets. One difference from channels_redis' fnmatchcase(): "[^0-9]" is a
// negated class here and in C, and the class "^0-9" in Python.
BOOST_AUTO_TEST_CASE(glob_patterns_match_as_fnmatch_without_escapes) {
    std::vector<std::string> const patterns{"*",
                                            "http.response!*",
                                            "websocket.send!*",
                                            "specific.*",
                                            "chat",
                                            "ch?t",
                                            "room[0-9]",
                                            "room[!0-9]",
                                            "room[^0-9]",
                                            "[ab]*[cd]",
                                            "a*b*c",
                                            "a.b",
                                            "a\\*b",
                                            "[]]x",
                                            "[!]]x",
                                            "[a-]",
                                            "[ab",
                                            "*[",
                                            "x[]",
                                            "a/*",
                                            ".*",
                                            "[z-a]",
                                            "**b",
                                            "a[.]b"};
    std::vector<std::string> const names{"",
                                         "anything",
                                         "http.response!abc",
                                         "http.request",
                                         "chat",
                                         "xchat",
                                         "cht",
                                         "room7",
                                         "roomx",
                                         "a--d",
                                         "a--e",
                                         "aXbYbZc",
                                         "a.b",
                                         "a*b",
                                         "a\\b",
                                         "]x",
                                         "ax",
                                         "-",
                                         "[",
                                         "ab",
                                         "x[]",
                                         "x[",
                                         "a/b",
                                         ".hidden",
                                         "zb",
                                         "a-b",
                                         "specific.abc!def",
                                         "websocket.send!x"};
    for (auto const& pattern : patterns) {
        for (auto const& name : names) {
            bool const c = ::fnmatch(pattern.c_str(), name.c_str(), FNM_NOESCAPE) == 0;
            BOOST_TEST(glob_match(pattern, name) == c, "'" << pattern << "' on '" << name << "'");
        }
    }
}

BOOST_AUTO_TEST_CASE(capacity_table_first_match_wins) {
    CapacityTable const table({{"http.response!*", 10}, {"http.*", 20}, {"room?", 3}}, 100);
    BOOST_TEST(table.capacity("http.response!x") == 10u);
    BOOST_TEST(table.capacity("http.request") == 20u);
    BOOST_TEST(table.capacity("room1") == 3u);
    BOOST_TEST(table.capacity("room12") == 100u);
    BOOST_TEST(table.capacity("other") == 100u);
    using Patterns = std::vector<std::pair<std::string, std::size_t>>;
    BOOST_CHECK_THROW(CapacityTable(Patterns{{"a*", 0}}, 100), std::invalid_argument);
    BOOST_CHECK_THROW(CapacityTable(Patterns{{"", 5}}, 100), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
