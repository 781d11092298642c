"""The follow-ups projection: each follow-up's row, from the steps of its `followup-<id>` stream."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime

from hub.events import RecordedEvent
from hub.rows import RowProjector, UnitOfWork
from interactions.catalogue import FOLLOWUP_TYPES
from interactions.followups.models import Followup, FollowupState

FOLLOWUP_FIELDS = [
    "state", "breached_at", "closed_at", "closed_by", "action", "note", "callbacks", "version", "updated_at",
]  # fmt: skip


class FollowupRows(UnitOfWork):
    tables = {"followup": (Followup, FOLLOWUP_FIELDS)}
    kept = ("followup",)


def _opened(event: RecordedEvent) -> Followup:
    data, survey = event.data, event.data["survey"]
    return Followup(
        id=data["followup_id"],
        thread_id=data["thread_id"],
        customer_id=data["customer_id"],
        subject=event.subject,
        survey_source=survey["source"],
        survey_event_id=survey["id"],
        metric=survey["metric"],
        score=survey["score"],
        comment=survey.get("comment") or "",
        survey_id=survey.get("survey_id") or "",
        reason=data["reason"],
        state=FollowupState.OPEN,
        opened_at=event.occurred_at,
        due_at=parse_datetime(data["due_at"]),
        callbacks=[],
        updated_at=event.occurred_at,
    )


def apply_followup_step(rows: FollowupRows, event: RecordedEvent) -> None:
    """One step of a follow-up: where its row stands now."""
    data, kind = event.data, event.type
    key = str(data["followup_id"])
    if kind == "followup.opened":
        row = _opened(event)
        rows.add("followup", key, row)
    else:
        row = rows.get("followup", key)
        rows.touch("followup", key)
    if kind == "followup.breached":
        row.state, row.breached_at = FollowupState.BREACHED, event.occurred_at
    elif kind == "followup.closed":
        row.state, row.closed_at = FollowupState.CLOSED, event.occurred_at
        row.closed_by, row.action, row.note = data["agent_id"], data["action"], data.get("note") or ""
    elif kind == "followup.callback_requested":
        link = {"callback_id": str(data["callback_id"]), "agent_id": data["agent_id"]}
        row.callbacks = [*row.callbacks, {**link, "at": event.occurred_at.isoformat()}]
    row.version, row.updated_at = event.stream_version, event.occurred_at


class FollowupsProjector(RowProjector):
    name = "followups"
    unit = FollowupRows
    handlers = dict.fromkeys(FOLLOWUP_TYPES, apply_followup_step)
    tables = (Followup,)

    def prefetch(self, unit: UnitOfWork, events: list[RecordedEvent]) -> None:
        unit.load("followup", {e.data["followup_id"] for e in events if e.type != "followup.opened"})
