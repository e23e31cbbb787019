// The multichat's parts without sockets: the failed-login throttle, the rooms file, and
// `canal-chat createuser`.
#include "multichat_app.hpp"

#include <canal/middleware/json_file_user_store.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;

struct FakeClock {
    std::shared_ptr<std::chrono::steady_clock::time_point> now =
        std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    chat::LoginThrottle::Clock fn() const {
        auto p = now;
        return [p] { return *p; };
    }
};

std::string read_all(std::filesystem::path const& p) {
    std::ifstream in(p);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

} // namespace

BOOST_AUTO_TEST_SUITE(throttle)

BOOST_AUTO_TEST_CASE(blocks_after_max_failures_until_the_window_ends) {
    FakeClock clock;
    chat::LoginThrottle t(3, 60s, 100, clock.fn());
    BOOST_TEST(!t.blocked("1.2.3.4").has_value());
    t.record_failure("1.2.3.4");
    t.record_failure("1.2.3.4");
    BOOST_TEST(!t.blocked("1.2.3.4").has_value());
    t.record_failure("1.2.3.4");
    auto wait = t.blocked("1.2.3.4");
    BOOST_REQUIRE(wait.has_value());
    BOOST_TEST(wait->count() == 60);
    BOOST_TEST(!t.blocked("5.6.7.8").has_value()); // per address
    *clock.now += 59s;
    BOOST_TEST(t.blocked("1.2.3.4").value_or(0s).count() == 1);
    *clock.now += 1s;
    BOOST_TEST(!t.blocked("1.2.3.4").has_value());
    t.record_failure("5.6.7.8");
    t.reset("5.6.7.8");
    BOOST_TEST(t.size() == 0U);
}

BOOST_AUTO_TEST_CASE(the_table_is_bounded) {
    FakeClock clock;
    chat::LoginThrottle t(2, 60s, 10, clock.fn());
    for (int i = 0; i < 1000; ++i) {
        t.record_failure("10.0.0." + std::to_string(i));
        *clock.now += 1ms;
        BOOST_TEST_REQUIRE(t.size() <= 10U);
    }
    // The newest addresses are kept.
    t.record_failure("10.0.0.999");
    BOOST_TEST(t.blocked("10.0.0.999").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rooms)

BOOST_AUTO_TEST_CASE(parse_and_find) {
    auto rooms = chat::RoomList::from_json(boost::json::parse(
        R"([{"id": 1, "title": "A"}, {"id": "x-2", "title": "B", "staff_only": true}])"));
    BOOST_TEST(rooms.rooms().size() == 2U);
    BOOST_REQUIRE(rooms.find(boost::json::value(1)) != nullptr);
    BOOST_TEST(rooms.find(boost::json::value("1"))->title == "A");
    BOOST_TEST(rooms.find(boost::json::value("x-2"))->staff_only);
    BOOST_TEST(rooms.find(boost::json::value("x-2"))->group == "room-x-2");
    BOOST_TEST(rooms.find(boost::json::value(3)) == nullptr);
    BOOST_TEST(rooms.find(boost::json::value(1.5)) == nullptr);
    BOOST_TEST(rooms.find(boost::json::value(nullptr)) == nullptr);
}

BOOST_AUTO_TEST_CASE(bad_lists_are_refused) {
    for (auto const* text : {R"({})", R"([{"title": "no id"}])", R"([{"id": 1}])",
                             R"([{"id": 1, "title": "a"}, {"id": "1", "title": "b"}])",
                             R"([{"id": "no spaces", "title": "a"}])",
                             R"([{"id": 1, "title": "a", "staff_only": "yes"}])"}) {
        BOOST_CHECK_THROW(chat::RoomList::from_json(boost::json::parse(text)),
                          std::invalid_argument);
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(createuser)

BOOST_AUTO_TEST_CASE(reads_the_password_from_stdin_and_stores_only_a_hash) {
    auto const file = std::filesystem::temp_directory_path() /
                      ("canal-createuser-" + std::to_string(::getpid()) + ".json");
    std::filesystem::remove(file);
    std::istringstream in("correct horse battery\n");
    std::ostringstream out;
    std::ostringstream err;
    int rc =
        chat::createuser_main({"--users", file.string(), "zoe", "--staff"}, in, out, err, false);
    BOOST_TEST(rc == 0, err.str());
    auto const text = read_all(file);
    BOOST_TEST(text.find("correct horse") == std::string::npos);
    BOOST_TEST(out.str().find("correct horse") == std::string::npos);
    canal::JsonFileUserStore store(file);
    auto zoe = store.authenticate("zoe", "correct horse battery");
    BOOST_REQUIRE(zoe.has_value());
    BOOST_TEST(zoe->is_staff);

    std::istringstream again("x\n");
    BOOST_TEST(chat::createuser_main({"--users", file.string(), "zoe"}, again, out, err,
                                     false) == 1); // exists
    std::istringstream empty("");
    BOOST_TEST(chat::createuser_main({"--users", file.string(), "yan"}, empty, out, err,
                                     false) == 1); // no password
    std::istringstream blank("\n");
    BOOST_TEST(chat::createuser_main({"--users", file.string(), "yan"}, blank, out, err,
                                     false) == 1); // empty password
    std::istringstream pw("pw\n");
    BOOST_TEST(chat::createuser_main({"zoe"}, pw, out, err, false) == 2); // no --users
    BOOST_TEST(chat::createuser_main({"--users", file.string(), "bad name"}, pw, out, err, false) ==
               2);
    std::filesystem::remove(file);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(login_form)

BOOST_AUTO_TEST_CASE(fields_are_decoded_as_browsers_encode_them) {
    // A browser sends a space as '+' and a '+' as %2B (application/x-www-form-urlencoded).
    auto const form = chat::parse_form("username=al+ice&password=a%2Bb+c%25&next=%2Fmultichat%2F");
    BOOST_TEST(form.at("username") == "al ice");
    BOOST_TEST(form.at("password") == "a+b c%");
    BOOST_TEST(form.at("next") == "/multichat/");
}

BOOST_AUTO_TEST_CASE(the_first_value_of_a_name_wins_and_a_bare_name_is_empty) {
    auto const form = chat::parse_form("a=1&a=2&flag&=nameless");
    BOOST_TEST(form.at("a") == "1");
    BOOST_TEST(form.at("flag") == "");
    BOOST_TEST(form.at("") == "nameless");
    BOOST_TEST(chat::parse_form("").empty());
}

BOOST_AUTO_TEST_CASE(a_malformed_body_has_no_fields) {
    BOOST_TEST(chat::parse_form("username=alice&password=100%").empty());
    BOOST_TEST(chat::parse_form("username=%zzalice").empty());
}

BOOST_AUTO_TEST_SUITE_END()
