"""The events of a callback's life, each keyed by the callback, its attempt and its offer.

A transition's event id is derived from the callback, its attempt and its offer (`<id>/<attempt>/<offer>/
offered`, `<id>/<attempt>/outcome`, ...), so the log's unique (source, id) refuses a second copy of the same
step even if every other guard failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings

from hub.events import NewEvent
from interactions.callbacks.models import Callback
from interactions.catalogue import HUB_SOURCE
from interactions.placement.models import PlacedThread
from interactions.threads.models import Thread

# A thread as the read model or the write model has it: events need only its id and its customer.
AnyThread = Thread | PlacedThread


def callback_event(
    row: Callback,
    thread: AnyThread,
    kind: str,
    key: str,
    data: dict[str, Any],
    now: datetime,
    actor=None,
) -> NewEvent:
    metadata = {"customer_id": str(thread.customer_id), "thread_id": str(thread.pk)}
    if actor is not None:
        metadata["token"] = str(actor.pk)
    return NewEvent(
        source=HUB_SOURCE,
        id=f"{row.pk}/{key}",
        type=f"callback.{kind}",
        stream=f"callback-{row.pk}",
        data={"callback_id": str(row.pk), **data},
        occurred_at=now,
        metadata=metadata,
    )


def scheduled_event(
    row: Callback,
    thread: AnyThread,
    attempt: int,
    due: datetime,
    why: str,
    now: datetime,
    *,
    version: int,
) -> NewEvent:
    """`version` is the stream's version this event will have: a reschedule is keyed by it."""
    data = {"attempt": attempt, "due_at": due.isoformat(), "why": why}
    return callback_event(row, thread, "scheduled", f"{attempt}/scheduled/v{version}", data, now)


def expired_event(
    row: Callback, thread: AnyThread, reason: str, now: datetime, *, agent_id: str | None = None
) -> NewEvent:
    """`agent_id`: the agent whose accepted call it ends (on their `agent:` topic, as a cancellation is)."""
    data = {"reason": reason, **({"agent_id": agent_id} if agent_id else {})}
    return callback_event(row, thread, "expired", "expired", data, now)


def outcome_overdue_event(
    row: Callback, thread: AnyThread, now: datetime, *, followup_id: str | None = None
) -> NewEvent:
    """The accepted call of `row.attempt` has had no outcome for THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES:
    keyed by the attempt, so it is appended once per attempt. `followup_id`: the follow-up the callback was
    requested for, named so that the event reaches the supervisors watching follow-ups (`followups`)."""
    data = {
        "attempt": row.attempt,
        "agent_id": row.agent_id,
        "accepted_at": row.accepted_at.isoformat(),
        "overdue_minutes": settings.THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES,
        **({"followup_id": followup_id} if followup_id else {}),
    }
    return callback_event(row, thread, "outcome_overdue", f"{row.attempt}/outcome_overdue", data, now)
