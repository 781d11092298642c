"""Celery tasks of threads: a thin wrapper that calls the idling service (safe to run twice)."""

from celery import shared_task

from interactions import jobs
from interactions.threads import idling


@shared_task(name=jobs.THREADS_IDLE, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def threads_idle() -> None:
    """Beat's: mark idle the open threads with no activity for the continuation window."""
    idling.threads_idle()
