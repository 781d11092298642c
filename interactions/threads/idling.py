"""Idling: an open thread with no activity for the continuation window becomes `thread.idled`, once.

Celery beat asks a worker every THREADLINE_IDLE_TICK_SECONDS (`tasks.threads_idle`). The worker reads the
quiet open threads from placement's write model (current with every append) and the thread streams' versions
from the log, then marks each under its customer's lock, against the version it read: a contact, a command or
anything else appended on the thread since refuses the append (WrongExpectedVersion), and it is skipped, to
be looked at again on the next tick. The event id `<thread id>/<version>/idled` makes a repeat, a second
beat or a redelivered task append nothing (the log's unique (source, id)).

Idling records what already is and changes no placement decision: placement's write model keeps the thread
`open` (it records only `idled_at`), and its rules continue a thread by its status and its last activity,
which idling does not touch. The threads read model shows it `idle` until its next activity.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from hub import log, projections, store
from hub.errors import WrongExpectedVersion
from hub.events import NewEvent
from interactions.catalogue import HUB_SOURCE, ThreadStatus
from interactions.locks import CUSTOMER_LOCKS
from interactions.placement.models import PlacedThread
from interactions.placement.rules import continuation_window

IDLE_PAGE = 200
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quiet:
    """An open thread found without activity for the window, and its stream's version then."""

    thread_id: uuid.UUID
    version: int


def _quiet(now: datetime) -> Q:
    """Open, not idled since its last activity, its last activity (or, with none, its opening) older than
    the window (what placement's rule 3 no longer continues), and not reopened within the window."""
    since = now - continuation_window()
    return (
        Q(status=ThreadStatus.OPEN, idled_at__isnull=True)
        & (Q(last_activity_at__lt=since) | Q(last_activity_at__isnull=True, opened_at__lt=since))
        # A reopen is no activity (placement's rules do not read it), but a thread reopened by someone is
        # worked on: it is quiet a window after the reopen, not a minute later.
        & (Q(reopened_at__isnull=True) | Q(reopened_at__lt=since))
    )


def quiet_threads(now: datetime, *, after: uuid.UUID | None = None, limit: int = IDLE_PAGE) -> list[Quiet]:
    """Up to `limit` quiet open threads (by id, after `after`) with their streams' versions as read now."""
    query = PlacedThread.objects.filter(_quiet(now))
    if after is not None:
        query = query.filter(pk__gt=after)
    ids = list(query.order_by("pk").values_list("pk", flat=True)[:limit])
    last = log.last_events(f"thread-{pk}" for pk in ids)
    return [Quiet(pk, last[f"thread-{pk}"].stream_version) for pk in ids if f"thread-{pk}" in last]


def thread_idle(quiet: Quiet, *, now: datetime) -> bool:
    """Append `thread.idled` for a thread found quiet, if it still is and its stream is still at the version
    it was found at. True if it was appended now."""
    try:
        with transaction.atomic():
            thread = _locked(quiet.thread_id)
            if thread is None or not PlacedThread.objects.filter(_quiet(now), pk=thread.pk).exists():
                return False
            result = store.append([_idled(thread, quiet.version, now)], expected_versions=_expected(quiet))
            return not result[0].duplicate
    except WrongExpectedVersion:
        return False  # something landed on the thread since it was read: it wins, the next tick looks again
    except OperationalError as exc:
        if not log.is_deadlock(exc):
            raise
        logger.info("thread %s: idling deadlocked with an append; the next tick tries again", quiet.thread_id)
        return False


def threads_idle(*, now: datetime | None = None, page: int = IDLE_PAGE) -> int:
    """Mark idle every open thread quiet for the continuation window. Returns how many were marked."""
    now = now or timezone.now()
    with transaction.atomic():
        projections.catch_up_if_behind()  # placement's write model decides: never from a stale one
    marked, after = 0, None
    while True:
        found = quiet_threads(now, after=after, limit=page)
        marked += sum(thread_idle(quiet, now=now) for quiet in found)
        if len(found) < page:
            return marked
        after = found[-1].thread_id


def _locked(thread_id: uuid.UUID) -> PlacedThread | None:
    """The thread, read again under its customer's lock (placement of their events and the thread commands
    take it) and its own row lock (a callback's completed call moves its activity without the customer's
    lock): nothing changes it until this transaction ends. A merge may move it to another customer between
    the read and the lock: then that one is locked too, and it is read again."""
    locked: set[str] = set()
    while True:
        thread = PlacedThread.objects.filter(pk=thread_id).first()
        if thread is None:
            return None
        customer = str(thread.customer_id)
        if customer in locked:
            return PlacedThread.objects.select_for_update().filter(pk=thread_id).first()
        log.lock_keys(CUSTOMER_LOCKS, [customer])
        locked.add(customer)


def _expected(quiet: Quiet) -> dict[str, int]:
    return {f"thread-{quiet.thread_id}": quiet.version}


def _idled(thread: PlacedThread, version: int, now: datetime) -> NewEvent:
    data = {
        "thread_id": str(thread.pk),
        "customer_id": str(thread.customer_id),
        "opened_at": thread.opened_at.isoformat(),
        "last_activity_at": thread.last_activity_at.isoformat() if thread.last_activity_at else None,
        "window_hours": settings.THREADLINE_CONTINUATION_WINDOW_HOURS,
    }
    return NewEvent(
        source=HUB_SOURCE,
        # Keyed by the version it was found quiet at: once per quiet spell, whoever appends it.
        id=f"{thread.pk}/{version}/idled",
        type="thread.idled",
        stream=f"thread-{thread.pk}",
        data=data,
        occurred_at=now,
        metadata={"customer_id": str(thread.customer_id), "thread_id": str(thread.pk)},
    )
