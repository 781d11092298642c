"""The follow-up SLA: every open follow-up past its due time is recorded as `followup.breached`, once; and
a follow-up whose callback reached the customer closes itself (`followup.closed`, called back), once.

The same claim-and-append pattern as the callback dispatcher (interactions.callbacks.dispatch): Celery beat
only asks a worker to look; the worker claims due rows with `FOR UPDATE SKIP LOCKED` and appends each breach
against its stream's version in the claim's transaction, with a fixed event id (`<id>/breached`) the log's
unique (source, id) refuses twice. A worker killed between the claim and the append rolls back (nothing was
written, the rows are free again); a doubled tick or a second worker finds them claimed or breached.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import OperationalError, transaction
from django.utils import timezone

from hub import log, store
from interactions.callbacks.models import Callback, CallbackState
from interactions.followups.events import followup_event
from interactions.followups.models import Followup, FollowupState
from interactions.placement.models import PlacedThread

BREACH_PAGE = 100
# How long a claim may wait for the table (an offline rebuild holds it): past it the next tick retries.
CLAIM_WAIT_MS = 2_000
logger = logging.getLogger(__name__)


def followups_breach(*, now: datetime | None = None, page: int = BREACH_PAGE) -> int:
    """Record every open follow-up due by `now` (default: the present) as breached; the number recorded."""
    now = now or timezone.now()
    recorded = 0
    while True:
        count, more = _breach_page(now, page)
        recorded += count
        if not more:
            return recorded


def _breach_page(now: datetime, page: int) -> tuple[int, bool]:
    try:
        with log.waiting_at_most(CLAIM_WAIT_MS):
            return _breach_page_in_transaction(now, page)
    except OperationalError as exc:
        if not log.is_lock_timeout(exc):
            raise
        logger.info("follow-up SLA: the follow-ups table is busy; the next tick tries again")
        return 0, False


def _breach_page_in_transaction(now: datetime, page: int) -> tuple[int, bool]:
    with transaction.atomic():
        due = Followup.objects.select_for_update(skip_locked=True).filter(
            state=FollowupState.OPEN, due_at__lte=now
        )
        log.lock_timeout(CLAIM_WAIT_MS)
        rows = list(due.order_by("due_at", "pk")[:page])
        log.lock_timeout(0)
        if not rows:
            return 0, False
        threads = PlacedThread.objects.in_bulk({row.thread_id for row in rows})
        events = [
            followup_event(
                row, threads[row.thread_id], "breached", "breached", {"due_at": row.due_at.isoformat()}, now
            )
            for row in rows
        ]
        # The rows are ours until this commits: the versions serialise each follow-up's steps.
        expected = {f"followup-{row.pk}": row.version for row in rows}
        store.append(events, expected_versions=expected, deduplicate=False)
        return len(rows), len(rows) == page


def followups_close_reached(*, now: datetime | None = None, page: int = BREACH_PAGE) -> int:
    """Close every open or breached follow-up one of whose callbacks reached the customer (completed): the
    loop is closed by the call, whoever forgets to press Close. The number closed. Claimed and appended as
    breaches are; the close's fixed event id (`<id>/closed`, as a person's close) makes it happen once."""
    now = now or timezone.now()
    closed = 0
    while True:
        try:
            with log.waiting_at_most(CLAIM_WAIT_MS):
                count, more = _close_page(now, page)
        except OperationalError as exc:
            if not log.is_lock_timeout(exc):
                raise
            logger.info("follow-ups: the follow-ups table is busy; the next tick tries again")
            return closed
        closed += count
        if not more:
            return closed


def _close_page(now: datetime, page: int) -> tuple[int, bool]:
    with transaction.atomic():
        waiting = (
            Followup.objects.select_for_update(skip_locked=True)
            .filter(state__in=(FollowupState.OPEN, FollowupState.BREACHED))
            .exclude(callbacks=[])
        )
        log.lock_timeout(CLAIM_WAIT_MS)
        rows = list(waiting.order_by("opened_at", "pk")[:page])
        log.lock_timeout(0)
        if not rows:
            return 0, False
        asked = {link["callback_id"]: row for row in rows for link in row.callbacks}
        reached = Callback.objects.filter(pk__in=list(asked), state=CallbackState.COMPLETED)
        calls = {}
        for callback in reached.order_by("pk"):
            row = asked[str(callback.pk)]
            calls.setdefault(row.pk, (row, callback))
        if not calls:
            return 0, len(rows) == page
        threads = PlacedThread.objects.in_bulk({row.thread_id for row, _ in calls.values()})
        events = [
            followup_event(row, threads[row.thread_id], "closed", "closed", _reached(row, callback), now)
            for row, callback in calls.values()
        ]
        expected = {f"followup-{row.pk}": row.version for row, _ in calls.values()}
        store.append(events, expected_versions=expected, deduplicate=False)
        return len(events), len(rows) == page


def _reached(row: Followup, callback: Callback) -> dict:
    """The close of a follow-up by its callback: called back, by the agent who made the call."""
    agent = next((o["agent_id"] for o in reversed(callback.outcomes) if o.get("outcome") == "completed"), "")
    return {
        "action": "called_back",
        "note": f"Callback {callback.pk} reached the customer",
        "agent_id": agent or callback.agent_id,
        "breached": row.state == FollowupState.BREACHED,
    }
