"""The events of a follow-up's life after it opens, on its `followup-<id>` stream and its thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.events import NewEvent
from interactions.access.models import ApiToken
from interactions.catalogue import HUB_SOURCE
from interactions.followups.models import Followup
from interactions.placement.models import PlacedThread


def followup_event(
    row: Followup,
    thread: PlacedThread,
    kind: str,
    key: str,
    data: dict[str, Any],
    now: datetime,
    actor: ApiToken | None = None,
) -> NewEvent:
    """A step of the follow-up: `followup.<kind>`, with the event id `<id>/<key>`, so that the log's unique
    (source, id) refuses a second copy of a step that can happen once (its breach, its close). It is placed on
    the thread's current customer (placement's write model follows merges), so their topics hear of it."""
    metadata: dict[str, Any] = {"customer_id": str(thread.customer_id), "thread_id": str(row.thread_id)}
    if actor is not None:
        metadata["token"] = str(actor.pk)
    return NewEvent(
        source=HUB_SOURCE,
        id=f"{row.pk}/{key}",
        type=f"followup.{kind}",
        stream=f"followup-{row.pk}",
        data={"followup_id": str(row.pk), **data},
        subject=row.subject,
        occurred_at=now,
        metadata=metadata,
    )
