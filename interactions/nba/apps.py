"""App config of next best actions: its take-up table, and the start-up check of the rules file."""

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


class NbaConfig(AppConfig):
    name = "interactions.nba"
    label = "nba"
    verbose_name = "Next best actions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from interactions.nba.rules import check_rules_file

        # A system check (`manage.py check`, and every management command: migrate, run_subscriptions), and
        # the same check here, because uvicorn and Celery run no system checks: a bad rules file stops every
        # process at start-up, never a context read.
        checks.register(check_rules_file)
        if errors := check_rules_file():
            raise ImproperlyConfigured(f"{errors[0].msg} ({errors[0].id}). {errors[0].hint}")
