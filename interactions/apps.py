"""App config of the contact-centre domain."""

from django.apps import AppConfig


class InteractionsConfig(AppConfig):
    name = "interactions"
    verbose_name = "Interactions"
