// DjangoSessionStore: Django's sessions from django_session, django-redis or the cookie.
#include <canal/django/django_session_store.hpp>

#include <canal/django/session_codec.hpp>
#include <canal/redis/client.hpp>
#include <canal/sync/sync_to_async.hpp>

#include <boost/json/parse.hpp>

#include <stdexcept>

namespace canal::django {

namespace {

// One django_session look-up, blocking: run on the handler pool.
struct LoadRow {
    std::shared_ptr<Database> database;
    std::string key;
    std::optional<std::string> operator()() const {
        return database->session_data(key, std::chrono::system_clock::now());
    }
};

awaitable<std::optional<boost::json::object>> load_db(std::shared_ptr<DjangoSettings const> s,
                                                      std::string key) {
    LoadRow load{s->database, std::move(key)};
    auto data = co_await sync_to_async(std::move(load));
    if (!data) {
        co_return std::nullopt;
    }
    co_return decode_session_data(*data, s->secret_key);
}

awaitable<std::optional<boost::json::object>> load_cache(std::shared_ptr<DjangoSettings const> s,
                                                         std::string key) {
    co_await s->cache->connect();
    redis::Command get;
    get.emplace_back("GET");
    get.push_back(s->cache_key_prefix + key);
    auto reply = co_await s->cache->command(std::move(get));
    if (reply.kind != redis::Reply::Kind::string) {
        co_return std::nullopt;
    }
    // django-redis' JSONSerializer: the session dict as JSON (not signed: the cache is trusted).
    boost::system::error_code ec;
    auto value = boost::json::parse(reply.str, ec);
    if (ec || !value.is_object()) {
        co_return std::nullopt;
    }
    co_return std::move(value.get_object());
}

} // namespace

void validate(DjangoSettings const& settings) {
    if (settings.secret_key.empty()) {
        throw std::invalid_argument("the Django settings have no secret key");
    }
    if (!settings.database) {
        throw std::invalid_argument("the Django settings have no database (users live there)");
    }
    if (settings.engine == SessionEngine::cache && !settings.cache) {
        throw std::invalid_argument("the Django cache session engine needs the cache's Redis");
    }
}

DjangoSessionStore::DjangoSessionStore(std::shared_ptr<DjangoSettings const> settings)
    : settings_(std::move(settings)) {
    if (!settings_) {
        throw std::invalid_argument("DjangoSessionStore: the settings are null");
    }
    validate(*settings_);
}

bool DjangoSessionStore::is_valid_key(std::string_view key) noexcept {
    if (key.size() < 8 || key.size() > 40) {
        return false;
    }
    for (char c : key) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return true;
}

awaitable<std::optional<boost::json::object>> DjangoSessionStore::load(std::string key) {
    switch (settings_->engine) {
    case SessionEngine::signed_cookies:
        co_return decode_signed_cookie(key, settings_->secret_key, settings_->cookie_age,
                                       std::chrono::system_clock::now());
    case SessionEngine::db:
        if (!is_valid_key(key)) {
            co_return std::nullopt;
        }
        co_return co_await load_db(settings_, std::move(key));
    case SessionEngine::cache:
        if (!is_valid_key(key)) {
            co_return std::nullopt;
        }
        co_return co_await load_cache(settings_, std::move(key));
    }
    co_return std::nullopt;
}

awaitable<void> DjangoSessionStore::save(std::string /*key*/, boost::json::object /*data*/,
                                         std::chrono::seconds /*ttl*/) {
    throw Error("Django's sessions are read-only in canal: change them on the Django site");
    co_return;
}

awaitable<void> DjangoSessionStore::remove(std::string /*key*/) {
    throw Error("Django's sessions are read-only in canal: end them on the Django site");
    co_return;
}

} // namespace canal::django
