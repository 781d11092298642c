"""Celery tasks of follow-ups: the SLA tick, a thin wrapper around the breach and close claims.

acks_late and reject_on_worker_lost (also the project-wide defaults): a worker killed mid-task leaves the
message to be delivered again, and the task is safe to run twice.
"""

from celery import shared_task

from interactions import jobs
from interactions.followups import breach


@shared_task(name=jobs.FOLLOWUPS_BREACH, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def followups_breach() -> None:
    """Record the follow-ups past their SLA, and close those whose callback reached the customer (the table
    says which). Sent by beat every tick."""
    breach.followups_breach()
    breach.followups_close_reached()
