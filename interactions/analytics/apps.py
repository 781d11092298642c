"""App config of the experience measures: their read models, aggregated by hour."""

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "interactions.analytics"
    label = "analytics"
    verbose_name = "Experience measures"
    default_auto_field = "django.db.models.BigAutoField"
