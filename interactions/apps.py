"""App config of the contact-centre domain: registers its projectors, subscriptions and Celery tasks."""

from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class InteractionsConfig(AppConfig):
    name = "interactions"
    verbose_name = "Interactions"

    def ready(self) -> None:
        from hub.projections import register_projector
        from hub.subscriptions import register_subscription
        from interactions import projections
        from interactions.agents import tasks as agent_tasks  # noqa: F401 (registers the Celery tasks)
        from interactions.callbacks import tasks as callback_tasks  # noqa: F401
        from interactions.callbacks.hours import InvalidHours
        from interactions.callbacks.schedule import check_hours_settings
        from interactions.followups import tasks as followup_tasks  # noqa: F401
        from interactions.placement.projector import PlacementProjector
        from interactions.threads import tasks as thread_tasks  # noqa: F401

        for projector in [PlacementProjector(), *projections.inline()]:
            register_projector(projector)
        for projector in projections.subscribed():
            register_subscription(projector)
        from interactions.people.selectors import session_engine_problem

        if problem := session_engine_problem():
            raise ImproperlyConfigured(problem)
        try:
            check_hours_settings()
        except InvalidHours as exc:
            raise ImproperlyConfigured(
                f"THREADLINE_BUSINESS_HOURS / _TIMEZONE / CALLING_HOURS: {exc}"
            ) from exc
