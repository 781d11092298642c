"""Registers the tally subscriptions with the hub (tests only: see tests/settings.py)."""

from django.apps import AppConfig


class TallyConfig(AppConfig):
    name = "tests.hub.tally"
    label = "tally"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from hub.subscriptions import register_subscription
        from tests.hub.tally.handlers import Mirror, Tally

        register_subscription(Tally())
        register_subscription(Mirror())
