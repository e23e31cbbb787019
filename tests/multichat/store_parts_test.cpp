// The multichat's store and protocol without sockets: parse_command's new commands, the room
// directory, and ChatStore on a SQLite file (permissions, history order, rooms, schema version).
#include "chat_store.hpp"
#include "multichat_app.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <unistd.h>

namespace {

chat::RoomList two_rooms() {
    return chat::RoomList::from_json(boost::json::parse(
        R"([{"id": 1, "title": "A"}, {"id": "b", "title": "B", "staff_only": true}])"));
}

chat::MultichatCommand parse(chat::RoomList const& rooms, char const* text) {
    return chat::parse_command(rooms, boost::json::parse(text));
}

struct TempDb {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("canal-store-" + std::to_string(::getpid()) + "-" +
                                  std::to_string(counter()++) + ".sqlite3");
    ~TempDb() {
        for (char const* suffix : {"", "-wal", "-shm"}) {
            std::error_code ec;
            std::filesystem::remove(path.string() + suffix, ec);
        }
    }
    [[nodiscard]] std::string url() const { return "sqlite://" + path.string(); }
    static int& counter() {
        static int n = 0;
        return n;
    }
};

} // namespace

BOOST_AUTO_TEST_SUITE(store_protocol)

BOOST_AUTO_TEST_CASE(edit_delete_and_room_commands_parse) {
    auto const rooms = two_rooms();
    using Kind = chat::MultichatCommand::Kind;
    auto edit = parse(rooms, R"({"command": "edit", "room": 1, "id": 7, "message": "x"})");
    BOOST_TEST((edit.kind == Kind::edit));
    BOOST_TEST(edit.id == 7);
    BOOST_TEST(edit.message == "x");
    auto del = parse(rooms, R"({"command": "delete", "room": "1", "id": 3})");
    BOOST_TEST((del.kind == Kind::remove));
    BOOST_TEST(del.room->key == "1");
    auto create = parse(rooms, R"({"command": "create_room", "room": "c", "title": "C",
                                   "staff_only": true})");
    BOOST_TEST((create.kind == Kind::create_room));
    BOOST_REQUIRE(create.new_room.has_value());
    BOOST_TEST(create.new_room->group == "room-c");
    BOOST_TEST(create.new_room->staff_only);
    BOOST_TEST((parse(rooms, R"({"command": "remove_room", "room": "b"})").kind ==
                Kind::remove_room));
}

BOOST_AUTO_TEST_CASE(bad_commands_get_their_error) {
    auto const rooms = two_rooms();
    struct Case {
        char const* text;
        char const* error;
    };
    for (auto const& c : {
             Case{R"({"command": "edit", "room": 1, "id": "7", "message": "x"})", "COMMAND_INVALID"},
             Case{R"({"command": "edit", "room": 1, "id": 0, "message": "x"})", "COMMAND_INVALID"},
             Case{R"({"command": "edit", "room": 1, "id": 7})", "COMMAND_INVALID"},
             Case{R"({"command": "delete", "room": 1, "id": -1})", "COMMAND_INVALID"},
             Case{R"({"command": "delete", "room": 9, "id": 1})", "ROOM_INVALID"},
             Case{R"({"command": "create_room", "room": 1, "title": "again"})", "ROOM_EXISTS"},
             Case{R"({"command": "create_room", "room": "a b", "title": "x"})", "ROOM_INVALID"},
             Case{R"({"command": "create_room", "room": [1], "title": "x"})", "ROOM_INVALID"},
             Case{R"({"command": "create_room", "room": "c"})", "COMMAND_INVALID"},
             Case{R"({"command": "create_room", "room": "c", "title": ""})", "COMMAND_INVALID"},
             Case{R"({"command": "create_room", "room": "c", "title": "C", "staff_only": 1})",
                  "COMMAND_INVALID"},
             Case{R"({"command": "remove_room", "room": "zz"})", "ROOM_INVALID"},
         }) {
        auto const got = parse(rooms, c.text);
        BOOST_TEST((got.kind == chat::MultichatCommand::Kind::invalid), c.text);
        BOOST_TEST(got.error == c.error, c.text);
    }
}

BOOST_AUTO_TEST_CASE(directory_adds_and_removes) {
    chat::RoomDirectory directory(two_rooms());
    auto const before = directory.snapshot();
    BOOST_TEST(directory.add(chat::RoomList::make_room(boost::json::value("c"), "C", false)));
    BOOST_TEST(!directory.add(chat::RoomList::make_room(boost::json::value("c"), "C2", false)));
    BOOST_TEST(directory.snapshot()->rooms().size() == 3U);
    BOOST_TEST(directory.remove("1"));
    BOOST_TEST(!directory.remove("1"));
    BOOST_TEST(directory.snapshot()->find_key("1") == nullptr);
    // A snapshot taken before stays whole: a command parsed against it keeps its room.
    BOOST_TEST(before->rooms().size() == 2U);
    BOOST_TEST(before->find_key("1") != nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(chat_store)

BOOST_AUTO_TEST_CASE(messages_history_edits_and_deletes) {
    TempDb db;
    auto store = chat::ChatStore::open(db.url());
    auto const a = store->add("1", "alice", "one");
    auto const b = store->add("1", "bob", "two");
    store->add("2", "alice", "elsewhere");
    BOOST_TEST(b.id > a.id);
    auto history = store->history("1", 10);
    BOOST_REQUIRE(history.size() == 2U);
    BOOST_TEST(history[0].text == "one"); // oldest first
    BOOST_TEST(store->history("1", 1).at(0).text == "two"); // the last N
    using R = chat::MessageChange::Result;
    BOOST_TEST((store->edit(a.id, "1", "bob", false, "x").result == R::forbidden));
    BOOST_TEST((store->edit(a.id, "2", "alice", false, "x").result == R::not_found));
    BOOST_TEST((store->edit(99999, "1", "alice", false, "x").result == R::not_found));
    auto const edited = store->edit(a.id, "1", "alice", false, "one!");
    BOOST_TEST((edited.result == R::done));
    BOOST_TEST(edited.message.text == "one!");
    BOOST_TEST(edited.message.edited_ms >= edited.message.time_ms);
    BOOST_TEST((store->remove(b.id, "1", "alice", false).result == R::forbidden));
    BOOST_TEST((store->remove(b.id, "1", "boss", true).result == R::done)); // staff
    BOOST_TEST((store->remove(b.id, "1", "bob", false).result == R::deleted));
    BOOST_TEST((store->edit(b.id, "1", "bob", false, "back").result == R::deleted));
    history = store->history("1", 10);
    BOOST_REQUIRE(history.size() == 1U);
    BOOST_TEST(history[0].text == "one!");
    // Text is kept byte for byte (quotes, NUL-free UTF-8, SQL-looking input).
    auto const odd = store->add("1", "alice", "it's \"x\"; DROP TABLE canal_chat_message; é✓");
    BOOST_TEST(store->history("1", 1).at(0).text == odd.text);
}

BOOST_AUTO_TEST_CASE(rooms_are_seeded_once_then_kept) {
    TempDb db;
    auto store = chat::ChatStore::open(db.url());
    std::vector<chat::StoredRoom> seed{{"1", "1", "A", false}, {"\"b\"", "b", "B", true}};
    BOOST_TEST(store->seed_rooms(seed) == 2U);
    BOOST_TEST(store->seed_rooms(seed) == 0U); // a database with rooms is not seeded again
    BOOST_TEST(store->create_room({"\"c\"", "c", "C", false}));
    BOOST_TEST(!store->create_room({"\"c\"", "c", "C again", false}));
    BOOST_TEST(store->remove_room("1"));
    BOOST_TEST(!store->remove_room("1"));
    auto const rooms = chat::RoomList::from_store(store->rooms());
    BOOST_REQUIRE(rooms.rooms().size() == 2U);
    BOOST_TEST(rooms.rooms()[0].key == "b"); // in the order they were made
    BOOST_TEST(rooms.rooms()[0].staff_only);
    BOOST_TEST(rooms.rooms()[1].title == "C");
    BOOST_TEST(chat::RoomList::from_store(store->rooms()).find(boost::json::value("b")) != nullptr);
}

BOOST_AUTO_TEST_CASE(bad_urls_and_newer_schemas_are_refused) {
    BOOST_CHECK_THROW(chat::ChatStore::open("mysql://x"), std::invalid_argument);
    BOOST_CHECK_THROW(chat::ChatStore::open("sqlite://"), std::invalid_argument);
    BOOST_CHECK_THROW(chat::ChatStore::open("sqlite:///no/such/dir/chat.sqlite3"),
                      chat::StoreError);
    TempDb db;
    {
        auto store = chat::ChatStore::open(db.url());
        auto conn = chat::SqlConnection::open_sqlite(db.path.string(), true);
        conn->query("UPDATE canal_chat_schema SET version = 99");
    }
    try {
        chat::ChatStore::open(db.url());
        BOOST_FAIL("a newer schema was accepted");
    } catch (chat::StoreError const& e) {
        BOOST_TEST(std::string(e.what()).find("version 99") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
