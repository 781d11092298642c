"""Celery tasks of the domain: thin wrappers that take ids and call a service.

Every task runs with acks_late and reject_on_worker_lost (also the project-wide defaults): a worker killed
mid-task leaves the message to be delivered again, and every task is safe to run twice.
"""

import math

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from interactions import callbacks, services


@shared_task(
    name="interactions.agent_presence_expire", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def agent_presence_expire(agent_id: str) -> None:
    """After a socket closed and the grace period passed: offline unless the agent is still connected."""
    services.agent_offline_if_gone(agent_id=agent_id)


# A tick also wakes the dispatcher when callbacks fall due before the next tick, in slots this wide.
WAKE_SLOT_SECONDS = 0.1


@shared_task(
    name="interactions.callbacks_dispatch", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def callbacks_dispatch(tick: bool = False) -> None:
    """Offer what is due (the table says what that is). Sent by beat every tick and nudged after commits.

    A tick also schedules a wake-up (countdown below one tick, so never a long ETA) for each slot in which
    callbacks fall due before the next tick: offers are then late by a slot, not by up to a whole tick.
    Wake-ups schedule nothing themselves, so they never multiply; a lost one is covered by the next tick.
    """
    # Only a tick waits for a dispatcher that is busy; a nudge or a wake-up leaves the work to it.
    callbacks.callbacks_dispatch(wait=tick)
    if not tick:
        return
    now = timezone.now()
    horizon = settings.THREADLINE_CALLBACK_TICK_SECONDS
    slots = {
        math.ceil((due - now).total_seconds() / WAKE_SLOT_SECONDS)
        for due in callbacks.callbacks_due_soon(within=horizon, now=now)
    }
    for slot in sorted(slots):
        callbacks_dispatch.apply_async(countdown=slot * WAKE_SLOT_SECONDS)
