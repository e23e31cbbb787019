// DjangoSettings: what canal needs to know of a Django site to read its sessions and users.
#pragma once

#include <canal/django/database.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace canal::redis {
class Client;
} // namespace canal::redis

namespace canal::django {

/** Django's SESSION_ENGINE, for the engines a process outside Django can reach. */
enum class SessionEngine {
    db,             ///< `django.contrib.sessions.backends.db`: the `django_session` table
    signed_cookies, ///< `django.contrib.sessions.backends.signed_cookies`: the cookie itself
    cache,          ///< `django.contrib.sessions.backends.cache` on django-redis (JSON serializer)
};

/** The engine called `name` (`db`, `signed_cookies`, `cache`, or Django's dotted path). */
SessionEngine parse_session_engine(std::string_view name);

/** The settings of the Django site that canal shares users with (its settings.py, in C++). */
struct DjangoSettings {
    /** SECRET_KEY. Required: load it with read_secret_key() (never from a command line). */
    std::string secret_key;
    /** SESSION_ENGINE. */
    SessionEngine engine = SessionEngine::db;
    /** SESSION_COOKIE_NAME. */
    std::string cookie_name = "sessionid";
    /** SESSION_COOKIE_AGE: the oldest signed_cookies session accepted (two weeks). */
    std::chrono::seconds cookie_age = std::chrono::hours(24 * 14);
    /** The site's database: `django_session` (the db engine) and the users. Required. */
    std::shared_ptr<Database> database;
    /** The cache engine's Redis (django-redis' LOCATION); required for SessionEngine::cache. */
    std::shared_ptr<redis::Client> cache;
    /**
     * The cache engine's key prefix: django-redis' key is `KEY_PREFIX:VERSION:` followed by
     * `django.contrib.sessions.cache` and the session key (KEY_PREFIX "" and VERSION 1 here).
     */
    std::string cache_key_prefix = ":1:django.contrib.sessions.cache";
    /**
     * AUTHENTICATION_BACKENDS: a session whose `_auth_user_backend` is not listed is
     * anonymous. Users must be active unless the backend is AllowAllUsersModelBackend.
     */
    std::vector<std::string> authentication_backends{"django.contrib.auth.backends.ModelBackend"};
};

/**
 * The secret key in `file` (its whole content, without a trailing newline); throws
 * canal::Error when it cannot be read or is empty.
 */
std::string read_secret_key(std::filesystem::path const& file);

} // namespace canal::django
