"""Settings of the small Django site whose users canal-chat shares (tests/django_site).

Everything comes from the environment the test fixture sets:
  CANAL_SITE_DB             sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME
  CANAL_SITE_SECRET_FILE    the file holding SECRET_KEY (canal-chat reads the same file)
  CANAL_SITE_ENGINE         db, signed_cookies or cache
  CANAL_SITE_CACHE          redis://HOST:PORT/DB (the cache engine)
  CANAL_SITE_AFTER_LOGIN    where the login view redirects (canal's /multichat/)
"""
import os
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent

with open(os.environ["CANAL_SITE_SECRET_FILE"], encoding="utf-8") as f:
    SECRET_KEY = f.read().rstrip("\r\n")

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "site_urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [HERE / "templates"],
    "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
}]

_db = urlparse(os.environ["CANAL_SITE_DB"])
if _db.scheme == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _db.path}}
else:
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": _db.path.lstrip("/"),
        "USER": _db.username, "HOST": _db.hostname, "PORT": _db.port}}

SESSION_ENGINE = "django.contrib.sessions.backends." + os.environ.get("CANAL_SITE_ENGINE", "db")
if os.environ.get("CANAL_SITE_CACHE"):
    CACHES = {"default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ["CANAL_SITE_CACHE"],
        # canal reads the cache's sessions as JSON.
        "OPTIONS": {"SERIALIZER": "django_redis.serializers.json.JSONSerializer"},
    }}

LOGIN_REDIRECT_URL = os.environ.get("CANAL_SITE_AFTER_LOGIN", "/accounts/password_change/")
LOGOUT_REDIRECT_URL = "/accounts/login/"
