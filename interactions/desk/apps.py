"""App config of the desk: its templates and static files (no tables)."""

from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "interactions.desk"
    label = "desk"
    verbose_name = "Agent desk"
