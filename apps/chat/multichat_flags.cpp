// canal-chat's multichat flags: --users, --rooms, --sessions, --allowed-hosts...
#include "multichat_app.hpp"

#include <canal/core/errors.hpp>
#include <canal/django/csrf.hpp>
#include <canal/django/django_auth_middleware.hpp>
#include <canal/django/django_session_store.hpp>
#include <canal/middleware/json_file_user_store.hpp>
#include <canal/middleware/memory_session_store.hpp>
#include <canal/middleware/redis_session_store.hpp>
#include <canal/redis/client.hpp>

#include <iostream>
#include <stdexcept>
#include <utility>

namespace chat {

// --- canal-chat flags -------------------------------------------------------------------

namespace {

std::string const& flag(std::vector<canal::Settings::Flag> const& flags, std::string_view name) {
    for (auto const& f : flags) {
        if (f.name == name) {
            return f.value;
        }
    }
    static std::string const none;
    return none;
}

std::vector<std::string> split_commas(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        auto const comma = s.find(',');
        auto item = s.substr(0, comma);
        if (!item.empty()) {
            out.emplace_back(item);
        }
        s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    }
    return out;
}

/** --db and --history: the store (exit 1 when it cannot be opened, 2 for a bad flag). */
template <typename Fail>
void open_store(MultichatOptions& options, std::vector<canal::Settings::Flag> const& flags,
                std::string const& rooms_file, Fail const& fail) {
    auto const& history = flag(flags, "history");
    try {
        std::size_t used = 0;
        auto const n = std::stoul(history, &used);
        if (used != history.size() || n > 10000 || history.front() == '-') {
            throw std::out_of_range(history);
        }
        options.history = n;
    } catch (std::logic_error const&) {
        fail("--history must be a number of messages from 0 to 10000, not '" + history + "'");
    }
    auto url = flag(flags, "db");
    if (url == "off") {
        return;
    }
    if (url.empty()) {
        auto const dir = std::filesystem::absolute(rooms_file).parent_path();
        url = "sqlite://" + (dir / "multichat.sqlite3").string();
    }
    try {
        options.store = ChatStore::open(url);
    } catch (std::invalid_argument const& e) {
        fail(std::string("--db: ") + e.what());
    } catch (std::exception const& e) {
        std::cerr << "canal-chat: the multichat's database (--db) cannot be used: " << e.what()
                  << "\n";
        std::exit(1);
    }
}

} // namespace

void add_multichat_flags(std::vector<canal::Settings::Flag>& flags) {
    flags.push_back({"users", "multichat: users file (JSON; see `canal-chat createuser`)", ""});
    flags.push_back({"rooms", "multichat: rooms file (JSON list of {id, title, staff_only})", ""});
    flags.push_back({"allowed-hosts",
                     "comma-separated hosts the websockets of both chats may come from "
                     "(empty: localhost, 127.0.0.1, [::1]; *: any)",
                     ""});
    flags.push_back({"sessions",
                     "multichat: where sessions live: memory, or redis://HOST[:PORT][/DB] "
                     "with [[USER]:PASSWORD@] before HOST if need be (shared by several "
                     "canal-chat processes)",
                     "memory"});
    flags.push_back({"room-notifications",
                     "multichat: tell room members who enters and leaves "
                     "(on or off)",
                     "on"});
    flags.push_back({"db",
                     "multichat: where messages and rooms are kept: sqlite:///PATH, "
                     "postgresql://USER@HOST:PORT/DB, or off (no history, edits or room "
                     "changes); default: multichat.sqlite3 beside the rooms file",
                     ""});
    flags.push_back({"history", "multichat: messages of history a user gets on joining a room",
                     "50"});
    flags.push_back({"django-db",
                     "multichat: take users from this Django site's database instead of "
                     "--users: sqlite:///PATH or postgresql://USER@HOST:PORT/DB",
                     ""});
    flags.push_back({"django-secret-key-file",
                     "multichat with --django-db: file holding the site's SECRET_KEY", ""});
    flags.push_back({"django-session-engine",
                     "multichat with --django-db: the site's SESSION_ENGINE: db, "
                     "signed_cookies or cache (django-redis with its JSONSerializer)",
                     "db"});
    flags.push_back({"django-session-cookie",
                     "multichat with --django-db: the site's SESSION_COOKIE_NAME", "sessionid"});
    flags.push_back({"django-cache",
                     "multichat with --django-session-engine cache: the cache's redis:// URL", ""});
    flags.push_back({"django-login-url",
                     "multichat with --django-db: where anonymous users log in (LOGIN_URL)",
                     "/accounts/login/"});
    flags.push_back({"django-logout-url",
                     "multichat with --django-db: where the page's Log out button posts",
                     "/accounts/logout/"});
}

void use_django_users(MultichatOptions& options, std::vector<canal::Settings::Flag> const& flags) {
    namespace dj = canal::django;
    auto settings = std::make_shared<dj::DjangoSettings>();
    auto const& key_file = flag(flags, "django-secret-key-file");
    if (key_file.empty()) {
        throw std::invalid_argument("--django-db needs --django-secret-key-file FILE (the "
                                    "site's SECRET_KEY; never on the command line)");
    }
    settings->secret_key = dj::read_secret_key(key_file);
    settings->engine = dj::parse_session_engine(flag(flags, "django-session-engine"));
    settings->cookie_name = flag(flags, "django-session-cookie");
    settings->database = dj::Database::open(flag(flags, "django-db"));
    if (settings->engine == dj::SessionEngine::cache) {
        auto const& cache = flag(flags, "django-cache");
        if (cache.empty()) {
            throw std::invalid_argument("--django-session-engine cache needs --django-cache "
                                        "redis://HOST:PORT/DB");
        }
        settings->cache = std::make_shared<canal::redis::Client>(canal::redis::Url::parse(cache));
    }
    std::shared_ptr<dj::DjangoSettings const> shared = std::move(settings);
    dj::validate(*shared);
    options.auth_stack = [shared](canal::Application app) -> canal::Application {
        return dj::DjangoAuthMiddlewareStack(std::move(app), shared);
    };
    options.login_url = flag(flags, "django-login-url");
    options.logout_url = flag(flags, "django-logout-url");
    // The page's logout form posts to Django, with a token of Django's csrftoken cookie.
    options.csrf_token = [](canal::Scope const& scope) {
        auto const cookie = scope.cookies.find("csrftoken");
        if (cookie == scope.cookies.end()) {
            return std::string();
        }
        auto const secret = dj::csrf_secret_from_cookie(cookie->second);
        return secret ? dj::csrf_mask(*secret) : std::string();
    };
}

std::vector<std::string> allowed_hosts_flag(std::vector<canal::Settings::Flag> const& flags) {
    return split_commas(flag(flags, "allowed-hosts"));
}

canal::Application with_multichat(canal::Application app, std::filesystem::path const& static_dir,
                                  std::vector<canal::Settings::Flag> const& flags,
                                  std::shared_ptr<canal::SessionStore> sessions) {
    auto const& users = flag(flags, "users");
    auto const& rooms = flag(flags, "rooms");
    auto const& django = flag(flags, "django-db");
    if (users.empty() && rooms.empty() && django.empty()) {
        return app;
    }
    auto const fail = [](std::string const& why) {
        std::cerr << "canal-chat: " << why << "\n";
        std::exit(2);
    };
    if (!users.empty() && !django.empty()) {
        fail("--users and --django-db both name the multichat's users: give one");
    }
    if ((users.empty() && django.empty()) || rooms.empty()) {
        fail("the multichat needs --rooms FILE and --users FILE (or --django-db URL)");
    }
    auto const& notify = flag(flags, "room-notifications");
    if (notify != "on" && notify != "off") {
        fail("--room-notifications must be 'on' or 'off', not '" + notify + "'");
    }
    MultichatOptions options;
    try {
        if (django.empty()) {
            options.users = std::make_shared<canal::JsonFileUserStore>(users);
        } else {
            use_django_users(options, flags);
        }
        options.rooms = std::make_shared<RoomList const>(RoomList::load(rooms));
    } catch (std::exception const& e) {
        fail(e.what());
    }
    open_store(options, flags, rooms, fail);
    options.sessions = std::move(sessions);
    auto const& where = flag(flags, "sessions");
    if (!options.sessions && where != "memory") {
        try {
            auto client = std::make_shared<canal::redis::Client>(canal::redis::Url::parse(where));
            options.sessions = std::make_shared<canal::RedisSessionStore>(std::move(client));
        } catch (std::exception const& e) {
            fail("--sessions must be 'memory' or a redis:// URL: " + std::string(e.what()));
        }
    }
    options.allowed_hosts = allowed_hosts_flag(flags);
    options.notify_enter_leave = notify == "on";
    options.style = flag(flags, "consumer") == "sync" ? ConsumerStyle::sync : ConsumerStyle::async;
    try {
        return make_multichat_application(static_dir, std::move(options), std::move(app));
    } catch (StoreError const& e) {
        std::cerr << "canal-chat: " << e.what() << "\n";
        std::exit(1);
    }
}

} // namespace chat
