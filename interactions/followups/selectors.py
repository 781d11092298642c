"""Reading follow-ups: the queue by state, oldest first, and one follow-up as the API shows it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from hub import log
from hub.errors import NotFound
from interactions.followups.models import Followup, FollowupState
from interactions.placement.models import PlacedThread


def followup_list(*, state: str = FollowupState.OPEN) -> QuerySet[Followup]:
    """The follow-ups in `state`, oldest first (by when they opened)."""
    return Followup.objects.filter(state=state).order_by("opened_at", "id")


def followup_get(followup_id: uuid.UUID | str) -> Followup:
    row = Followup.objects.filter(pk=followup_id).first()
    if row is None:
        raise NotFound(f"no follow-up {followup_id}")
    return row


def followup_briefs(rows: list[Followup], *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each follow-up as the API shows it, in three queries however many: the thread's current customer
    (placement follows merges) and where the survey answer is in the log."""
    now = now or timezone.now()
    customers = dict(
        PlacedThread.objects.filter(pk__in={r.thread_id for r in rows}).values_list("id", "customer_id")
    )
    surveys = log.existing((r.survey_source, r.survey_event_id) for r in rows)
    return [_brief(row, customers, surveys, now) for row in rows]


def followup_brief(row: Followup, *, now: datetime | None = None) -> dict[str, Any]:
    return followup_briefs([row], now=now)[0]


def _brief(row: Followup, customers: dict, surveys: dict, now: datetime) -> dict[str, Any]:
    survey = surveys.get((row.survey_source, row.survey_event_id))
    left = None if row.state == FollowupState.CLOSED else (row.due_at - now).total_seconds()
    return {
        "id": row.pk,
        "thread_id": row.thread_id,
        "customer_id": customers.get(row.thread_id, row.customer_id),
        "metric": row.metric,
        "score": row.score,
        "comment": row.comment or None,
        "survey": {
            "source": row.survey_source,
            "id": row.survey_event_id,
            "survey_id": row.survey_id or None,
            "position": survey.position if survey is not None else None,
        },
        "reason": row.reason,
        "state": row.state,
        "opened_at": row.opened_at,
        "due_at": row.due_at,
        "seconds_left": None if left is None else round(left, 3),
        "breached_at": row.breached_at,
        "closed_at": row.closed_at,
        "closed_by": row.closed_by or None,
        "action": row.action or None,
        "note": row.note or None,
        "callbacks": row.callbacks,
    }
