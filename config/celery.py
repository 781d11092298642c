"""The Celery app, configured from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

from config.logfilters import QuietTicks
from interactions.privacy.logfilters import MaskCardNumbers

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("threadline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_card_numbers(logger, **kwargs) -> None:
    """A worker and beat log through Celery's own handlers, not Django's: mask card numbers there too, and
    leave out the routine lines about the every-second tick (config.logfilters.QuietTicks) unless
    THREADLINE_LOG_TICKS is set."""
    from django.conf import settings

    for handler in logger.handlers:
        if not settings.THREADLINE_LOG_TICKS:
            handler.addFilter(QuietTicks())  # first: masking may fold a record's arguments into its message
        handler.addFilter(MaskCardNumbers())
