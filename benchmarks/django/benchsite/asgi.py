"""ASGI entry point: the tutorial chat (sync or async consumer) and an echo route.

Environment:
  BENCH_CONSUMER  async (default) or sync: which tutorial consumer serves the chat and the echo.
"""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from chat import consumers  # noqa: E402

if os.environ.get("BENCH_CONSUMER", "async") == "sync":
    chat_consumer, echo_consumer = consumers.ChatConsumer, consumers.EchoConsumer
else:
    chat_consumer, echo_consumer = consumers.AsyncChatConsumer, consumers.AsyncEchoConsumer

# The tutorial wraps the router in AllowedHostsOriginValidator(AuthMiddlewareStack(...));
# canal-chat has neither, so neither has this, for an equal comparison.
application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": URLRouter([
        path("ws/chat/<str:room_name>/", chat_consumer.as_asgi()),
        path("ws/echo/", echo_consumer.as_asgi()),
    ]),
})
