"""App config of the contact-centre domain."""

from django.apps import AppConfig


class InteractionsConfig(AppConfig):
    name = "interactions"
    verbose_name = "Interactions"

    def ready(self) -> None:
        # Registers the context projector with the hub, so every append keeps the read models current.
        from interactions import projectors  # noqa: F401
