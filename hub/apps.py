"""App config of the event-sourcing kernel."""

from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "Event log"
    default_auto_field = "django.db.models.BigAutoField"
