"""App config of placement, whose write model has tables of its own."""

from django.apps import AppConfig


class PlacementConfig(AppConfig):
    name = "interactions.placement"
    label = "placement"
    verbose_name = "Placement (write model)"
    default_auto_field = "django.db.models.BigAutoField"
