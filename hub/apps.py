"""App config of the event-sourcing kernel."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HubConfig(AppConfig):
    name = "hub"
    verbose_name = "Event log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_empty_read_models_are_current, sender=self)


def _empty_read_models_are_current(using: str, **kwargs) -> None:
    """While the log is empty, every read model is trivially what any version of its projector makes: the
    checkpoint rows migrations wrote with SQL (at the column's default, 1) take their projectors' current
    versions, so a fresh database is never reported as built by an older one (hub.versions)."""
    from hub import projections, subscriptions
    from hub.models import ProjectionCheckpoint, StoredEvent, Subscription
    from hub.versions import version_of

    if StoredEvent.objects.using(using).exists():
        return
    for projector in projections.projectors():
        rows = ProjectionCheckpoint.objects.using(using).filter(name=projector.name)
        rows.update(built_version=version_of(projector))
    for handler in subscriptions.handlers():
        Subscription.objects.using(using).filter(name=handler.name).update(built_version=version_of(handler))
