// A layer message whose type has no handler: NoHandler names the registered types, and the
// likely one when only '.' and '_' differ.
#include <canal/consumers/async_consumer.hpp>

#include <canal/core/errors.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <exception>
#include <string>

namespace {

class Probe : public canal::AsyncConsumer {
public:
    explicit Probe(bool with_handlers) {
        if (with_handlers) {
            on("chat.message", &Probe::handle);
            on("chat.verdict", &Probe::handle);
        }
    }
    using AsyncConsumer::dispatch;

private:
    canal::awaitable<void> handle(canal::Message const& /*message*/) { co_return; }
};

std::string no_handler_text(Probe& probe, std::string const& type) {
    canal::net::io_context ioc;
    std::exception_ptr failure;
    canal::Message message{{"type", type}};
    canal::net::co_spawn(ioc, probe.dispatch(message), [&](std::exception_ptr e) { failure = e; });
    ioc.run();
    try {
        if (failure) {
            std::rethrow_exception(failure);
        }
    } catch (canal::NoHandler const& e) {
        return e.what();
    }
    BOOST_FAIL("no NoHandler for type " << type);
    return {};
}

bool contains(std::string const& text, std::string const& part) {
    return text.find(part) != std::string::npos;
}

} // namespace

BOOST_AUTO_TEST_SUITE(no_handler)

BOOST_AUTO_TEST_CASE(lists_the_registered_types_and_hints_at_dot_versus_underscore) {
    Probe probe(true);
    auto const text = no_handler_text(probe, "chat_message");
    BOOST_TEST(contains(text, "no handler for message type 'chat_message'"), text);
    BOOST_TEST(contains(text, "it registers 'chat.message', 'chat.verdict'"), text);
    BOOST_TEST(contains(text, "did you mean 'chat.message'?"), text);
    BOOST_TEST(contains(text, "'.' and '_' differ"), text);
}

BOOST_AUTO_TEST_CASE(an_unrelated_type_gets_the_list_and_how_to_register) {
    Probe probe(true);
    auto const text = no_handler_text(probe, "user.joined");
    BOOST_TEST(contains(text, "it registers 'chat.message', 'chat.verdict'"), text);
    BOOST_TEST(!contains(text, "did you mean"), text);
    BOOST_TEST(contains(text, "on(\"user.joined\", ...)"), text);
}

BOOST_AUTO_TEST_CASE(a_consumer_without_handlers_says_so) {
    Probe probe(false);
    BOOST_TEST(contains(no_handler_text(probe, "chat.message"), "it registers none"));
}

BOOST_AUTO_TEST_SUITE_END()
