"""App config of next best actions: its take-up table, and the start-up check of the rules file."""

from django.apps import AppConfig
from django.core import checks


class NbaConfig(AppConfig):
    name = "interactions.nba"
    label = "nba"
    verbose_name = "Next best actions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from interactions.nba.rules import check_rules_file

        checks.register(check_rules_file)
