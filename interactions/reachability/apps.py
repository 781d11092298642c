"""App config of reachability, whose read model has a table of its own."""

from django.apps import AppConfig


class ReachabilityConfig(AppConfig):
    name = "interactions.reachability"
    label = "reachability"
    verbose_name = "Reachability (read model)"
    default_auto_field = "django.db.models.BigAutoField"
