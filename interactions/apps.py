"""App config of the contact-centre domain."""

from django.apps import AppConfig


class InteractionsConfig(AppConfig):
    name = "interactions"
    verbose_name = "Interactions"

    def ready(self) -> None:
        # Registers the context projector with the hub, so every append keeps the read models current.
        from django.core.exceptions import ImproperlyConfigured

        from interactions import projectors  # noqa: F401
        from interactions.callbacks import check_hours_settings
        from interactions.hours import InvalidHours

        try:
            check_hours_settings()
        except InvalidHours as exc:
            raise ImproperlyConfigured(
                f"THREADLINE_BUSINESS_HOURS / _TIMEZONE / CALLING_HOURS: {exc}"
            ) from exc
