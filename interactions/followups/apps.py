"""App config of follow-ups: their write model (a table of its own, projected inline from the log)."""

from django.apps import AppConfig


class FollowupsConfig(AppConfig):
    name = "interactions.followups"
    label = "followups"
    verbose_name = "Follow-ups"
    default_auto_field = "django.db.models.BigAutoField"
