"""App config of websocket delivery (live agent subscriptions)."""

from django.apps import AppConfig


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = "Live subscriptions"
