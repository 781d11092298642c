"""Celery tasks of the domain: thin wrappers that take ids and call a service.

Every task runs with acks_late and reject_on_worker_lost (also the project-wide defaults): a worker killed
mid-task leaves the message to be delivered again, and every task is safe to run twice.
"""

from celery import shared_task

from interactions import callbacks, services


@shared_task(
    name="interactions.agent_presence_expire", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def agent_presence_expire(agent_id: str) -> None:
    """After a socket closed and the grace period passed: offline unless the agent is still connected."""
    services.agent_offline_if_gone(agent_id=agent_id)


@shared_task(
    name="interactions.callbacks_dispatch", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def callbacks_dispatch(tick: bool = False) -> None:
    """Offer what is due (the table says what that is). Sent by beat every tick and nudged after commits.

    Only a tick waits for a dispatcher that is busy; a nudge leaves the work to it.
    """
    callbacks.callbacks_dispatch(wait=tick)
