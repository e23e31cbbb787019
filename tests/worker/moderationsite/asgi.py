"""The project's application: its worker serves the chat-moderation channel, as canal-chat's
worker does (apps/chat/moderation.cpp), in Channels' own words."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "moderationsite.settings")

import django  # noqa: E402

django.setup()

from asgiref.sync import async_to_sync  # noqa: E402
from channels.consumer import SyncConsumer  # noqa: E402
from channels.routing import ChannelNameRouter, ProtocolTypeRouter  # noqa: E402


class ModerationConsumer(SyncConsumer):
    """Checks each chat.moderate message and group_sends a verdict, marked as Django's."""

    def chat_moderate(self, event):
        message = event["message"]
        blocked = isinstance(message, str) and "spam" in message.lower()
        verdict = ("blocked" if blocked else "ok") + " (django)"
        async_to_sync(self.channel_layer.group_send)(
            event["group"], {"type": "chat.verdict", "message": message, "verdict": verdict})


application = ProtocolTypeRouter({
    "channel": ChannelNameRouter({"chat-moderation": ModerationConsumer.as_asgi()}),
})
