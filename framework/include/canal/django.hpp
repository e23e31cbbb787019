// Every public header of canal::django (a Django site's sessions and users) in one include.
#pragma once

#include <canal/canal.hpp>

#include <canal/django/csrf.hpp>
#include <canal/django/database.hpp>
#include <canal/django/django_auth_middleware.hpp>
#include <canal/django/django_session_store.hpp>
#include <canal/django/django_settings.hpp>
#include <canal/django/session_codec.hpp>
#include <canal/django/signing.hpp>
#include <canal/django/sql_connection.hpp>
