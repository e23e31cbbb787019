// AsyncJsonWebsocketConsumer through WebsocketCommunicator: decoded values reach
// receive_json, send_json output parses back, invalid frames close (1007, 1003) unless
// invalid_frame() is overridden, and overridden encode_json/decode_json are used.
#include <canal/consumers/async_websocket_consumer.hpp>

#include "consumer_test_helpers.hpp"

#include <canal/testing/websocket_communicator.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace json = boost::json;
using canal::awaitable;
using canal::WebsocketCommunicator;
using canal::test::as_close;
using canal::test::as_send;

/** Keeps what receive_json got; shared with the test. */
struct JsonRecord {
    std::vector<json::value> received;
};
using JsonRecordPtr = std::shared_ptr<JsonRecord>;

/** Records each value and answers `{"got": value}`. */
class JsonEcho : public canal::AsyncJsonWebsocketConsumer {
public:
    explicit JsonEcho(JsonRecordPtr rec) : rec_(std::move(rec)) {}

protected:
    awaitable<void> receive_json(json::value content) override {
        rec_->received.push_back(content);
        json::object reply;
        reply["got"] = std::move(content);
        co_await send_json(std::move(reply));
    }

private:
    JsonRecordPtr rec_;
};

/** Answers `{"bye": code}` with `{"last": true}` and closes (send_json(..., close)). */
class JsonFarewell : public canal::AsyncJsonWebsocketConsumer {
public:
    explicit JsonFarewell(JsonRecordPtr /*rec*/) {}

protected:
    awaitable<void> receive_json(json::value content) override {
        json::object reply;
        reply["last"] = true;
        auto const code = static_cast<int>(content.at("bye").as_int64());
        if (code == 0) {
            co_await send_json(std::move(reply), true);
        } else {
            co_await send_json(std::move(reply), code);
        }
    }
};

/** Answers invalid frames with an error object and stays open. */
class LenientJson : public JsonEcho {
public:
    using JsonEcho::JsonEcho;

protected:
    awaitable<void> invalid_frame(std::string data, bool binary, std::string error) override {
        json::object reply;
        reply["error"] = binary ? "binary frames are not supported" : "invalid JSON";
        reply["detail"] = error;
        reply["size"] = data.size();
        co_await send_json(std::move(reply));
    }
};

/** A framing of its own: every JSON text carries the prefix "J:". */
class PrefixedJson : public JsonEcho {
public:
    using JsonEcho::JsonEcho;

protected:
    json::value decode_json(std::string const& text) override {
        if (!text.starts_with("J:")) {
            throw std::runtime_error("missing J: prefix");
        }
        return json::parse(text.substr(2));
    }
    std::string encode_json(json::value const& content) override {
        return "J:" + json::serialize(content);
    }
};

template <typename Consumer>
struct JsonFixture {
    JsonFixture() { BOOST_TEST_REQUIRE(comm.connect().accepted); }
    JsonRecordPtr rec = std::make_shared<JsonRecord>();
    WebsocketCommunicator comm{canal::as_app<Consumer>(rec), "/ws/json/"};
};

} // namespace

BOOST_AUTO_TEST_SUITE(json_consumer)

BOOST_AUTO_TEST_CASE(receive_json_gets_the_parsed_value) {
    JsonFixture<JsonEcho> f;
    json::value sent = json::parse(R"({"a": [1, 2.5, {"b": null}], "s": "x\u00e9", "t": true})");
    f.comm.send_json_to(sent);
    f.comm.send_to("  [1, \"two\", false]  ");
    f.comm.send_to("42");
    BOOST_TEST(f.comm.receive_json_from().at("got") == sent);
    BOOST_TEST(f.comm.receive_json_from().at("got") == json::parse(R"([1, "two", false])"));
    BOOST_TEST(f.comm.receive_json_from().at("got") == json::value(42));
    BOOST_TEST_REQUIRE(f.rec->received.size() == 3U);
    BOOST_TEST(f.rec->received[0].at("a").at(2).at("b").is_null());
    BOOST_TEST(f.rec->received[0].at("s") == "x\xc3\xa9");
    BOOST_TEST(f.rec->received[2].is_int64());
    f.comm.disconnect();
}

BOOST_AUTO_TEST_CASE(send_json_output_parses_back) {
    JsonFixture<JsonEcho> f;
    json::object sent;
    sent["quote"] = "say \"hi\"\nand \\ leave \x01";
    sent["n"] = -3.25;
    sent["list"] = json::array{1, "x", nullptr};
    f.comm.send_json_to(sent);
    canal::Event ev = f.comm.receive_output();
    BOOST_TEST(!as_send(ev).binary);
    json::value back = json::parse(*as_send(ev).data);
    BOOST_TEST(back.at("got") == json::value(sent));
    f.comm.disconnect();
}

BOOST_AUTO_TEST_CASE(send_json_with_close_sends_then_closes) {
    for (int code : {0, 4002}) {
        JsonFixture<JsonFarewell> f;
        json::object bye;
        bye["bye"] = code;
        f.comm.send_json_to(bye);
        BOOST_TEST(f.comm.receive_json_from().at("last") == json::value(true));
        canal::Event ev = f.comm.receive_output();
        BOOST_TEST(as_close(ev).code == (code == 0 ? 1000 : code));
        f.comm.disconnect(as_close(ev).code);
    }
}

BOOST_AUTO_TEST_CASE(invalid_json_closes_1007) {
    JsonFixture<JsonEcho> f;
    f.comm.send_to("{\"unterminated\": ");
    canal::Event ev = f.comm.receive_output();
    BOOST_TEST(as_close(ev).code == 1007);
    BOOST_TEST(as_close(ev).reason.starts_with("invalid JSON"), "reason: " << as_close(ev).reason);
    BOOST_TEST(as_close(ev).reason.size() <= 123U);
    BOOST_TEST(f.rec->received.empty());
    f.comm.send_json_to(json::value(1));
    BOOST_TEST(f.comm.receive_nothing());
    f.comm.disconnect(1007);
}

BOOST_AUTO_TEST_CASE(a_binary_frame_closes_1003) {
    JsonFixture<JsonEcho> f;
    f.comm.send_bytes_to("{\"a\": 1}");
    canal::Event ev = f.comm.receive_output();
    BOOST_TEST(as_close(ev).code == 1003);
    BOOST_TEST(f.rec->received.empty());
    f.comm.disconnect(1003);
}

BOOST_AUTO_TEST_CASE(overridden_invalid_frame_keeps_the_connection_open) {
    JsonFixture<LenientJson> f;
    f.comm.send_to("not json");
    json::value error = f.comm.receive_json_from();
    BOOST_TEST(error.at("error") == "invalid JSON");
    BOOST_TEST(!error.at("detail").as_string().empty());
    BOOST_TEST(error.at("size") == json::value(8));

    f.comm.send_bytes_to("\x01\x02");
    error = f.comm.receive_json_from();
    BOOST_TEST(error.at("error") == "binary frames are not supported");

    // Still open: a valid message is handled as usual.
    json::object ok;
    ok["still"] = "open";
    f.comm.send_json_to(ok);
    BOOST_TEST(f.comm.receive_json_from().at("got") == json::value(ok));
    f.comm.disconnect();
}

BOOST_AUTO_TEST_CASE(overridden_encode_and_decode_are_used) {
    JsonFixture<PrefixedJson> f;
    f.comm.send_to(R"(J:{"k": "v"})");
    std::string out = f.comm.receive_from();
    BOOST_TEST_REQUIRE(out.starts_with("J:"), "output: " << out);
    BOOST_TEST(json::parse(out.substr(2)).at("got").at("k") == "v");
    BOOST_TEST_REQUIRE(f.rec->received.size() == 1U);

    // Valid JSON without the prefix is rejected by the overridden decode_json.
    f.comm.send_to(R"({"k": "v"})");
    canal::Event ev = f.comm.receive_output();
    BOOST_TEST(as_close(ev).code == 1007);
    BOOST_TEST(as_close(ev).reason == "invalid JSON: missing J: prefix");
    f.comm.disconnect(1007);
}

BOOST_AUTO_TEST_SUITE_END()
