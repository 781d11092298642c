"""Placement of an incoming event: which customer it is about and which task thread it continues.

Runs at ingestion, after validation and under the append lock (the decisions read state that appends change).
Every decision becomes an event or metadata in the log (`customer.created`, `customer.identified`,
`customer.merged`, `thread.opened`, `thread.reopened`, and the event's own `customer_id`/`thread_id`), so
projections apply recorded decisions and a rebuild reproduces them exactly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from hub.store import NewEvent
from interactions.catalogue import THREADED_TYPES
from interactions.identifiers import parse_identifier
from interactions.models import ConversationRef, CustomerIdentifier, Thread, ThreadStatus

HUB_SOURCE = "/threadline"
INBOUND_TYPES = {"message.received"}


class PlacementError(Exception):
    """The event names state the hub does not have (an unknown thread, another customer's thread)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class Placement:
    customer_id: str
    thread_id: str | None
    prelude: list[NewEvent] = field(default_factory=list)  # hub events to append before the event itself

    def place(self, event: NewEvent) -> NewEvent:
        """The event with its stream and the decisions recorded in its metadata."""
        stream = f"thread-{self.thread_id}" if self.thread_id else f"customer-{self.customer_id}"
        metadata = {**event.metadata, "customer_id": self.customer_id}
        if self.thread_id:
            metadata["thread_id"] = self.thread_id
        return replace(event, stream=stream, metadata=metadata)


def continuation_window() -> timedelta:
    return timedelta(hours=settings.THREADLINE_CONTINUATION_WINDOW_HOURS)


def hub_event(
    event_type: str, stream: str, data: dict[str, Any], *, cause: NewEvent | None, at: datetime
) -> NewEvent:
    """An event the hub appends itself, caused by `cause` (an ingested event) or by a command."""
    metadata: dict[str, Any] = {}
    if cause is not None:
        metadata = {
            "causation_id": cause.id,
            "correlation_id": cause.metadata.get("correlation_id", cause.id),
        }
    return NewEvent(
        source=HUB_SOURCE,
        id=str(uuid.uuid4()),
        type=event_type,
        stream=stream,
        data=data,
        subject=cause.subject if cause is not None else "",
        occurred_at=at,
        metadata=metadata,
    )


def _identifiers(event: NewEvent) -> list[str]:
    uris = [event.subject]
    for raw in event.data.get("identifiers") or []:
        uri = parse_identifier(raw).uri
        if uri not in uris:
            uris.append(uri)
    return uris


def _customer(event: NewEvent, at: datetime) -> tuple[str, list[str], list[NewEvent]]:
    """The surviving customer's id, every customer id now folded into it, and the identity events."""
    uris = _identifiers(event)
    rows = CustomerIdentifier.objects.filter(uri__in=uris).select_related("customer")
    known = {row.uri: row.customer for row in rows}
    if not known:
        customer_id = str(uuid.uuid4())
        created = hub_event(
            "customer.created",
            f"customer-{customer_id}",
            {"customer_id": customer_id, "identifiers": uris},
            cause=event,
            at=at,
        )
        return customer_id, [customer_id], [created]

    customers = sorted({c.pk: c for c in known.values()}.values(), key=lambda c: (c.created_at, str(c.pk)))
    survivor = str(customers[0].pk)
    prelude = [
        hub_event(
            "customer.merged",
            f"customer-{survivor}",
            {"survivor_id": survivor, "merged_id": str(other.pk)},
            cause=event,
            at=at,
        )
        for other in customers[1:]
    ]
    prelude += [
        hub_event(
            "customer.identified",
            f"customer-{survivor}",
            {"customer_id": survivor, "identifier": uri},
            cause=event,
            at=at,
        )
        for uri in uris
        if uri not in known
    ]
    return survivor, [str(c.pk) for c in customers], prelude


def _refs(data: dict[str, Any]) -> list[str]:
    """Conversation keys this event continues, most specific first."""
    refs = [data.get("in_reply_to"), *reversed(data.get("references") or []), data.get("conversation_ref")]
    return [r for r in refs if r]


def _thread(
    event: NewEvent, customer_id: str, customer_ids: list[str], at: datetime
) -> tuple[str, list[NewEvent]]:
    data = event.data
    window = continuation_window()
    inbound = event.type in INBOUND_TYPES or (
        event.type.startswith("call.") and data.get("direction") == "inbound"
    )
    topic = data.get("topic") or ""

    def reopen_if_needed(thread: Thread) -> list[NewEvent]:
        if thread.status == ThreadStatus.RESOLVED and inbound:
            return [
                hub_event(
                    "thread.reopened",
                    f"thread-{thread.pk}",
                    {"thread_id": str(thread.pk)},
                    cause=event,
                    at=at,
                )
            ]
        return []

    # 1. The event names a thread.
    if data.get("thread_id"):
        thread = Thread.objects.filter(pk=data["thread_id"]).first()
        if thread is None:
            raise PlacementError("data.thread_id", f"no thread {data['thread_id']}")
        if str(thread.customer_id) not in customer_ids:
            raise PlacementError("data.thread_id", f"thread {data['thread_id']} belongs to another customer")
        return str(thread.pk), reopen_if_needed(thread)

    # 2. It continues a conversation the hub has seen (e-mail In-Reply-To/References, chat session, call id).
    refs = _refs(data)
    if refs:
        found = {
            r.ref: r.thread
            for r in ConversationRef.objects.filter(
                ref__in=refs, thread__customer_id__in=customer_ids
            ).select_related("thread")
        }
        for ref in refs:
            thread = found.get(ref)
            if thread is None:
                continue
            if thread.status == ThreadStatus.OPEN or at - thread.last_activity_at <= window:
                return str(thread.pk), reopen_if_needed(thread)
            break  # a reply to a long-closed conversation is a new objective

    # 3. An open thread of the customer, active within the window, whose topic does not differ.
    candidates = Thread.objects.filter(
        customer_id__in=customer_ids, status=ThreadStatus.OPEN, last_activity_at__gte=at - window
    ).order_by("-last_activity_at", "-opened_at")
    compatible = [t for t in candidates if not topic or not t.topic or t.topic == topic]
    if compatible:
        same_topic = [t for t in compatible if topic and t.topic == topic]
        return str((same_topic or compatible)[0].pk), []

    # 4. A new objective.
    thread_id = str(uuid.uuid4())
    opened = hub_event(
        "thread.opened",
        f"thread-{thread_id}",
        {"thread_id": thread_id, "customer_id": customer_id, "topic": topic or None},
        cause=event,
        at=at,
    )
    return thread_id, [opened]


def _stamp(event: NewEvent, customer_id: str, thread_id: str | None) -> NewEvent:
    """Record the customer (and thread) a hub event concerns, as channel events carry them."""
    metadata = {**event.metadata, "customer_id": customer_id}
    if thread_id:
        metadata["thread_id"] = thread_id
    return replace(event, metadata=metadata)


def place(event: NewEvent, *, now: datetime) -> Placement:
    """Decide the customer and thread of a validated event; raise PlacementError for impossible ones."""
    at = event.occurred_at or now
    customer_id, customer_ids, prelude = _customer(event, at)
    prelude = [_stamp(e, customer_id, None) for e in prelude]
    if event.type not in THREADED_TYPES:
        return Placement(customer_id, None, prelude)
    thread_id, thread_events = _thread(event, customer_id, customer_ids, at)
    return Placement(
        customer_id, thread_id, prelude + [_stamp(e, customer_id, thread_id) for e in thread_events]
    )
