"""The experience measures' projection (the `analytics` subscription): survey answers counted per hour and
dimension, and what it needs to know of customers and threads to group them.

Every row is a function of the log up to the event: an answer is grouped by the customer's segment and the
thread's topic and agent as the log stood when the answer arrived, so a rebuild makes the same rows
(`tests/interactions/analytics` checks it).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hub.events import RecordedEvent
from hub.rows import RowProjector, UnitOfWork
from interactions.analytics.models import CustomerFacts, SurveyHour, ThreadFacts
from interactions.catalogue import activity_at

MERGE_DEPTH = 64  # a chain of merges is followed this far (placement merges into the survivor of a survivor)


class AnalyticsRows(UnitOfWork):
    tables = {
        "customer": (CustomerFacts, ["segment", "merged_into"]),
        "thread": (ThreadFacts, ["topic", "agent_id"]),
        "survey": (SurveyHour, ["answers"]),
    }
    kept = ("customer", "thread", "survey")

    def facts(self, kind: str, key: Any, model: type, **fields: Any) -> Any:
        """The row of `key`, added blank when the projection has not seen it (an event placed before this
        projection existed is still counted; its dimensions are blank)."""
        key = str(uuid.UUID(str(key))) if kind != "survey" else key  # one spelling of an id
        self.load(kind, [key])
        row = self.rows[kind].get(key)
        if row is None:
            row = model(pk=key, **fields)
            self.add(kind, key, row)
        return row

    def customer(self, customer_id: Any) -> CustomerFacts:
        row = self.facts("customer", customer_id, CustomerFacts)
        for _ in range(MERGE_DEPTH):
            if row.merged_into is None:
                break
            row = self.facts("customer", row.merged_into, CustomerFacts)
        return row


def apply_customer_merged(rows: AnalyticsRows, event: RecordedEvent) -> None:
    merged = rows.facts("customer", event.data["merged_id"], CustomerFacts)
    survivor = rows.customer(event.data["survivor_id"])
    if not survivor.segment and merged.segment:
        survivor.segment = merged.segment  # as the customers read model: the survivor's own wins
        rows.touch("customer", survivor.pk)
    merged.merged_into = survivor.pk
    rows.touch("customer", merged.pk)


def apply_profile_updated(rows: AnalyticsRows, event: RecordedEvent) -> None:
    segment = event.data.get("segment")
    if segment is None or not event.metadata.get("customer_id"):
        return
    customer = rows.customer(event.metadata["customer_id"])
    customer.segment = segment
    rows.touch("customer", customer.pk)


def apply_thread_opened(rows: AnalyticsRows, event: RecordedEvent) -> None:
    thread = rows.facts("thread", event.data["thread_id"], ThreadFacts)
    thread.topic = event.data.get("topic") or ""
    rows.touch("thread", thread.pk)


def apply_thread_assigned(rows: AnalyticsRows, event: RecordedEvent) -> None:
    thread = rows.facts("thread", event.data["thread_id"], ThreadFacts)
    thread.agent_id = str(event.data["agent_id"])
    rows.touch("thread", thread.pk)


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def survey_dimensions(rows: AnalyticsRows, event: RecordedEvent) -> dict[str, Any]:
    """The answer's channel, agent, topic and segment (blank where not known): the event's own agent and
    topic, else its thread's; the segment of its customer (or the survivor they were merged into)."""
    data, meta = event.data, event.metadata
    thread = rows.facts("thread", meta["thread_id"], ThreadFacts) if meta.get("thread_id") else None
    customer = rows.customer(meta["customer_id"]) if meta.get("customer_id") else None
    return {
        "channel": data["channel"],
        "agent_id": str(data.get("agent_id") or (thread.agent_id if thread else "")),
        "topic": data.get("topic") or (thread.topic if thread else ""),
        "segment": customer.segment if customer else "",
    }


def apply_survey_answered(rows: AnalyticsRows, event: RecordedEvent) -> None:
    fields = {
        "hour": hour_of(activity_at(event)),
        "metric": event.data["metric"],
        "score": event.data["score"],
        **survey_dimensions(rows, event),
    }
    identity = json.dumps([fields["hour"].isoformat(), *(fields[k] for k in list(fields)[1:])])
    key = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()
    row = rows.facts("survey", key, SurveyHour, **fields)
    row.answers += 1
    rows.touch("survey", key)


class AnalyticsProjector(RowProjector):
    name = "analytics"
    unit = AnalyticsRows
    handlers = {
        "customer.merged": apply_customer_merged,
        "customer.profile_updated": apply_profile_updated,
        "thread.opened": apply_thread_opened,
        "thread.assigned": apply_thread_assigned,
        "survey.answered": apply_survey_answered,
    }
    tables = (SurveyHour, ThreadFacts, CustomerFacts)

    def prefetch(self, unit: UnitOfWork, events: list[RecordedEvent]) -> None:
        # Ids from what the hub wrote (placement's metadata, its own events' data), never from a posted
        # event's free fields: a profile update may carry any extra field, and one that is not an id must
        # not stop the projection.
        customers, threads = set(), set()
        for event in events:
            customers.add(event.metadata.get("customer_id"))
            threads.add(event.metadata.get("thread_id"))
            if event.type == "customer.merged":
                customers.update((event.data["survivor_id"], event.data["merged_id"]))
            elif event.type in ("thread.opened", "thread.assigned"):
                threads.add(event.data["thread_id"])
        unit.load("customer", {str(uuid.UUID(str(c))) for c in customers if c})
        unit.load("thread", {str(uuid.UUID(str(t))) for t in threads if t})
