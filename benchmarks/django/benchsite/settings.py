"""Settings of the Django Channels side of canal's benchmarks (see benchmarks/README.md).

Environment:
  BENCH_LAYER     memory (default) or redis://HOST:PORT[/DB]; several redis URLs separated
                  by commas shard the layer over those hosts, as channels_redis does.
"""
import os

SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels", "chat"]
ROOT_URLCONF = "benchsite.urls"
ASGI_APPLICATION = "benchsite.asgi.application"
DATABASES = {}
USE_TZ = True
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "root": {"handlers": [], "level": "WARNING"}}

_layer = os.environ.get("BENCH_LAYER", "memory")
if _layer == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [u for u in _layer.split(",") if u]},
        }
    }
