"""Settings of a Django project with a Channels worker, for canal's worker interop test
(tests/worker/worker_interop.py).

Environment:
  MODERATION_LAYER  the channels_redis host URL, redis://HOST:PORT
"""
import os

SECRET_KEY = "test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
ASGI_APPLICATION = "moderationsite.asgi.application"
DATABASES = {}
USE_TZ = True
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [os.environ["MODERATION_LAYER"]]},
    }
}
