"""Celery tasks of callbacks: thin wrappers that call the dispatcher.

Every task runs with acks_late and reject_on_worker_lost (also the project-wide defaults): a worker killed
mid-task leaves the message to be delivered again, and every task is safe to run twice.
"""

from celery import shared_task

from interactions import jobs
from interactions.callbacks import dispatch


@shared_task(name=jobs.CALLBACKS_DISPATCH, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def callbacks_dispatch(tick: bool = False) -> None:
    """Offer what is due (the table says what that is). Sent by beat every tick and nudged after commits.

    Only a tick waits for a dispatcher that is busy; a nudge leaves the work to it.
    """
    dispatch.callbacks_dispatch(wait=tick)
