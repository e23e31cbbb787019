// AsyncHttpConsumer under HttpCommunicator: whole responses, bodies in parts, a response
// kept open for layer messages (server-sent events), and the client going away.
#include "consumer_test_helpers.hpp"

#include <canal/consumers/async_http_consumer.hpp>
#include <canal/layers/in_memory_channel_layer.hpp>
#include <canal/testing/http_communicator.hpp>

#include <boost/test/unit_test.hpp>

namespace {

using namespace canal;
using namespace canal::test;

struct Probe {
    std::string body;
    std::string channel;
    int disconnects = 0;
};

/** Answers with what it was sent, and the method and path it saw. */
class EchoHttp : public AsyncHttpConsumer {
public:
    explicit EchoHttp(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) {}

protected:
    awaitable<void> handle(std::string body) override {
        probe_->body = body;
        // Built outside the co_await: g++ 12 miscompiles braced lists in its operand.
        Headers headers;
        headers.emplace_back("content-type", "text/plain");
        co_await send_response(201, scope().method + " " + scope().path + " " + body,
                               std::move(headers));
    }
    awaitable<void> disconnect() override {
        ++probe_->disconnects;
        co_return;
    }

private:
    std::shared_ptr<Probe> probe_;
};

/** Server-sent events: joins group "news", streams each "news.item" as a `data:` line. */
class NewsEvents : public AsyncHttpConsumer {
public:
    explicit NewsEvents(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) {
        on("news.item", &NewsEvents::news_item);
    }

protected:
    awaitable<void> handle(std::string /*body*/) override {
        co_await channel_layer().group_add("news", channel_name());
        probe_->channel = channel_name();
        Headers headers;
        headers.emplace_back("content-type", "text/event-stream");
        co_await send_headers(200, std::move(headers));
        co_await send_body(": connected\n\n", true);
    }
    awaitable<void> news_item(Message const& m) {
        std::string text(m.at("text").as_string());
        co_await send_body("data: " + text + "\n\n", text != "last");
    }
    awaitable<void> disconnect() override {
        ++probe_->disconnects;
        co_await channel_layer().group_discard("news", channel_name());
    }

private:
    std::shared_ptr<Probe> probe_;
};

/** Sends a body part before the response start: a programming error. */
class Careless : public AsyncHttpConsumer {
protected:
    awaitable<void> handle(std::string /*body*/) override { co_await send_body("oops"); }
};

Scope with_layer(std::shared_ptr<ChannelLayer> layer) {
    Scope s;
    s.channel_layer = std::move(layer);
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_consumer)

BOOST_AUTO_TEST_CASE(a_whole_response_and_disconnect_called_once) {
    auto probe = std::make_shared<Probe>();
    HttpCommunicator c{as_app<EchoHttp>(probe), "POST", "/echo/a%20b/?q=1", "payload"};
    auto res = c.get_response();
    BOOST_TEST(res.status == 201);
    BOOST_TEST(res.body == "POST /echo/a b/ payload");
    BOOST_REQUIRE(res.headers.size() == 1U);
    BOOST_TEST(res.headers[0].second == "text/plain");
    BOOST_TEST(probe->disconnects == 1);
}

BOOST_AUTO_TEST_CASE(a_path_is_sent_percent_encoded_as_a_client_would) {
    // A space and a non-ASCII letter cannot be on a request line as they are: the
    // communicator encodes them (%20, %C3%A9), and the scope's path is decoded again.
    auto probe = std::make_shared<Probe>();
    HttpCommunicator c{as_app<EchoHttp>(probe), "POST", "/echo/a b\xc3\xa9/?q=1", "payload"};
    auto res = c.get_response();
    BOOST_TEST(res.body == "POST /echo/a b\xc3\xa9/ payload");
}

BOOST_AUTO_TEST_CASE(a_body_in_parts_is_handled_whole) {
    auto probe = std::make_shared<Probe>();
    Scope scope;
    scope.type = "http";
    scope.method = "PUT";
    scope.path = "/";
    ApplicationCommunicator c{as_app<EchoHttp>(probe), scope};
    c.send_input(Event{HttpRequest{"ab", true}});
    BOOST_TEST(c.receive_nothing());
    c.send_input(Event{HttpRequest{"cd", false}});
    auto start = c.receive_output();
    BOOST_TEST(std::get<HttpResponseStart>(start).status == 201);
    BOOST_TEST(std::get<HttpResponseBody>(c.receive_output()).body == "PUT / abcd");
    c.wait();
    BOOST_TEST(probe->body == "abcd");
    BOOST_TEST(probe->disconnects == 1);
}

BOOST_AUTO_TEST_CASE(an_open_response_streams_layer_messages_until_its_last_part) {
    auto probe = std::make_shared<Probe>();
    auto layer = std::make_shared<InMemoryChannelLayer>();
    HttpCommunicator c{as_app<NewsEvents>(probe), "GET", "/news/", {}, with_layer(layer)};
    auto start = c.receive_start();
    BOOST_TEST(start.status == 200);
    auto hello = c.receive_body();
    BOOST_TEST(hello.body == ": connected\n\n");
    BOOST_TEST(hello.more_body);
    BOOST_TEST(c.receive_nothing());

    run_sync(layer->group_send("news", text_message("news.item", "first")));
    auto first = c.receive_body();
    BOOST_TEST(first.body == "data: first\n\n");
    BOOST_TEST(first.more_body);
    run_sync(layer->group_send("news", text_message("news.item", "last")));
    auto last = c.receive_body();
    BOOST_TEST(last.body == "data: last\n\n");
    BOOST_TEST(!last.more_body);
    c.disconnect();
    BOOST_TEST(probe->disconnects == 1);
    BOOST_TEST(left_group(*layer, "news", probe->channel));
}

BOOST_AUTO_TEST_CASE(the_client_going_away_ends_an_open_response) {
    auto probe = std::make_shared<Probe>();
    auto layer = std::make_shared<InMemoryChannelLayer>();
    HttpCommunicator c{as_app<NewsEvents>(probe), "GET", "/news/", {}, with_layer(layer)};
    BOOST_TEST(c.receive_start().status == 200);
    BOOST_TEST(c.receive_body().more_body);
    c.disconnect();
    BOOST_TEST(probe->disconnects == 1);
    BOOST_TEST(!probe->channel.empty());
    BOOST_TEST(left_group(*layer, "news", probe->channel));
}

BOOST_AUTO_TEST_CASE(a_body_before_the_start_is_a_clear_error) {
    HttpCommunicator c{as_app<Careless>(), "GET", "/"};
    BOOST_CHECK_EXCEPTION(c.get_response(), Error, [](Error const& e) {
        return std::string(e.what()) == "http response body before http response start";
    });
}

BOOST_AUTO_TEST_CASE(a_path_that_is_not_a_request_target_is_refused) {
    BOOST_CHECK_THROW((HttpCommunicator{as_app<Careless>(), "GET", "no-slash"}), Error);
}

BOOST_AUTO_TEST_SUITE_END()
