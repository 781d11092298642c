"""Celery work the domain asks for: enqueued by task name once the transaction commits, never from inside it.

Services name a task instead of importing it, so the tasks (thin wrappers that call services) are the only
side that imports the other.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger(__name__)

# Explicit task names (the beat schedule names the first too).
CALLBACKS_DISPATCH = "interactions.callbacks_dispatch"
AGENT_PRESENCE_EXPIRE = "interactions.agent_presence_expire"
AGENT_PRESENCE_SWEEP = "interactions.agent_presence_sweep"  # the beat schedule names it
FOLLOWUPS_BREACH = "interactions.followups_breach"  # the beat schedule names it
THREADS_IDLE = "interactions.threads_idle"  # the beat schedule names it


def enqueue_on_commit(task_name: str, *args: Any, countdown: float | None = None) -> None:
    """After this transaction commits, send `task_name(*args)` to a worker.

    A broker that is away is logged, not raised: the request that caused the work has committed, and each
    task here has a safety net (the dispatch tick, the stale-socket rule).
    """

    def send() -> None:
        try:
            current_app.tasks[task_name].apply_async(args, countdown=countdown)
        except BrokerError:
            logger.warning(
                "could not enqueue %s%r; its safety net will cover it", task_name, args, exc_info=True
            )

    transaction.on_commit(send)
