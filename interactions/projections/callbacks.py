"""The callbacks projection: each callback's row in the dispatcher's table, from the steps of its stream."""

from __future__ import annotations

from datetime import datetime

from django.utils.dateparse import parse_datetime

from hub.events import RecordedEvent
from hub.rows import RowProjector, UnitOfWork
from interactions.callbacks.models import Callback, CallbackState
from interactions.catalogue import CALLBACK_OUTCOME_TYPES, CALLBACK_TYPES

CALLBACK_FIELDS = [
    "state", "due_at", "attempt", "offer", "agent_id", "offer_expires_at", "tried_agents", "outcomes",
    "version", "updated_at", "accepted_at", "overdue_at",
]  # fmt: skip


class CallbackRows(UnitOfWork):
    tables = {"callback": (Callback, CALLBACK_FIELDS)}
    kept = ("callback",)


def _when(value: str) -> datetime:
    return parse_datetime(value)


def _requested(event: RecordedEvent) -> Callback:
    data = event.data
    return Callback(
        id=data["callback_id"],
        thread_id=event.metadata["thread_id"],
        phone=data["phone"],
        reason=data.get("reason") or "",
        timezone=data.get("timezone") or "",
        # Requests recorded before the request's own zone was kept apart hold only the zone they used.
        requested_timezone=(
            data["requested_timezone"] if "requested_timezone" in data else data.get("timezone")
        )
        or "",
        requested_at=event.occurred_at,
        requested_by=data["requested_by"],
        not_before=_when(data["not_before"]),
        window_end=_when(data["window_end"]),
        state=CallbackState.SCHEDULED,
        due_at=_when(data["not_before"]),
        tried_agents=[],
        outcomes=[],
        updated_at=event.occurred_at,
    )


def apply_callback_step(rows: CallbackRows, event: RecordedEvent) -> None:
    """One step of a callback: where its row stands now."""
    data, kind = event.data, event.type
    callback_id = str(data["callback_id"])
    if kind == "callback.requested":
        callback = _requested(event)
        rows.add("callback", callback_id, callback)
    else:
        callback = rows.get("callback", callback_id)
        rows.touch("callback", callback_id)
    if kind == "callback.scheduled":
        if data["attempt"] != callback.attempt:
            callback.tried_agents, callback.offer = [], 0
        elif data.get("why") == "hours":
            # Moved to the next opening: whoever declined or let it lapse before may be free then. The offer
            # count goes on (it keys the offers' event ids).
            callback.tried_agents = []
        callback.state, callback.attempt = CallbackState.SCHEDULED, data["attempt"]
        callback.due_at = _when(data["due_at"])
        callback.agent_id, callback.offer_expires_at = "", None
    elif kind == "callback.offered":
        callback.state, callback.offer, callback.agent_id = (
            CallbackState.OFFERED,
            data["offer"],
            data["agent_id"],
        )
        callback.offer_expires_at = _when(data["expires_at"])
        callback.tried_agents = [*callback.tried_agents, data["agent_id"]]
    elif kind == "callback.accepted":
        callback.state, callback.offer_expires_at = CallbackState.ACCEPTED, None
        callback.accepted_at, callback.overdue_at = event.occurred_at, None
    elif kind == "callback.outcome_overdue":
        callback.overdue_at = event.occurred_at  # the state stays accepted: an outcome may still come
    elif kind in ("callback.declined", "callback.offer_timed_out"):
        callback.state, callback.agent_id, callback.offer_expires_at = CallbackState.SCHEDULED, "", None
    elif kind in CALLBACK_OUTCOME_TYPES:
        outcome = kind.removeprefix("callback.")
        callback.outcomes = [
            *callback.outcomes,
            {
                "attempt": data["attempt"],
                "agent_id": data["agent_id"],
                "outcome": outcome,
                "at": event.occurred_at.isoformat(),
            },
        ]
        callback.agent_id = ""
        if outcome == "completed":
            callback.state = CallbackState.COMPLETED
    elif kind in ("callback.expired", "callback.cancelled"):
        callback.state = CallbackState.EXPIRED if kind == "callback.expired" else CallbackState.CANCELLED
        callback.agent_id, callback.offer_expires_at = "", None
    callback.version, callback.updated_at = event.stream_version, event.occurred_at


class CallbacksProjector(RowProjector):
    name = "callbacks"
    # 2: accepted_at and overdue_at (callback.outcome_overdue) are kept (2026-12-06).
    version = 2
    unit = CallbackRows
    handlers = dict.fromkeys(CALLBACK_TYPES, apply_callback_step)
    tables = (Callback,)

    def prefetch(self, unit: UnitOfWork, events: list[RecordedEvent]) -> None:
        unit.load("callback", {e.data["callback_id"] for e in events if e.type != "callback.requested"})
