"""App config of the provider connections, which have tables of their own."""

from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "interactions.connections"
    label = "connections"
    verbose_name = "Provider connections"
    default_auto_field = "django.db.models.BigAutoField"
