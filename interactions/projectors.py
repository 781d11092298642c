"""The context projection: customers, identifiers, threads, conversation refs and timelines from the log.

Each `apply_*` function reads one recorded event and writes only this projection's tables. Decisions (which
customer, which thread) were made at ingestion and recorded in the log, so replaying gives the same state.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import connection
from django.db.models import F

from hub.projections import register_projector
from hub.store import RecordedEvent
from interactions.catalogue import CATALOGUE, THREADED_TYPES
from interactions.identifiers import parse_identifier
from interactions.models import (
    AgentPresence,
    ConversationRef,
    Customer,
    CustomerIdentifier,
    Thread,
    ThreadStatus,
    TimelineEntry,
)

SURVEY_HISTORY = 5
# Events that count as a contact with the customer, per channel.
CONTACT_TYPES = {"message.received", "message.sent", "call.started"}


def _add_identifiers(customer_id: str, uris: list[str], at: datetime) -> None:
    for uri in uris:
        CustomerIdentifier.objects.update_or_create(
            uri=uri,
            defaults={"customer_id": customer_id, "kind": parse_identifier(uri).kind, "added_at": at},
        )


def apply_customer_created(event: RecordedEvent) -> None:
    customer_id = event.data["customer_id"]
    Customer.objects.create(id=customer_id, created_at=event.occurred_at)
    _add_identifiers(customer_id, event.data["identifiers"], event.occurred_at)


def apply_customer_identified(event: RecordedEvent) -> None:
    _add_identifiers(event.data["customer_id"], [event.data["identifier"]], event.occurred_at)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(x for x in (a, b) if x) if (a or b) else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(x for x in (a, b) if x) if (a or b) else None


def apply_customer_merged(event: RecordedEvent) -> None:
    survivor = Customer.objects.get(pk=event.data["survivor_id"])
    merged = Customer.objects.get(pk=event.data["merged_id"])
    CustomerIdentifier.objects.filter(customer=merged).update(customer=survivor)
    Thread.objects.filter(customer=merged).update(customer=survivor)
    Customer.objects.filter(merged_into=merged).update(merged_into=survivor)
    for name in ("name", "language", "timezone", "segment", "birthday"):
        if not getattr(survivor, name) and getattr(merged, name):
            setattr(survivor, name, getattr(merged, name))
    survivor.preferences = {**merged.preferences, **survivor.preferences}
    survivor.consent = {**merged.consent, **survivor.consent}
    counts = dict(survivor.channel_counts)
    for channel, n in merged.channel_counts.items():
        counts[channel] = counts.get(channel, 0) + n
    survivor.channel_counts = counts
    survivor.first_contact_at = _earlier(survivor.first_contact_at, merged.first_contact_at)
    survivor.last_contact_at = _later(survivor.last_contact_at, merged.last_contact_at)
    surveys: dict[str, list] = {}
    for metric in set(survivor.surveys) | set(merged.surveys):
        answers = survivor.surveys.get(metric, []) + merged.surveys.get(metric, [])
        surveys[metric] = sorted(answers, key=lambda a: a["position"])[-SURVEY_HISTORY:]
    survivor.surveys = surveys
    survivor.save()
    merged.merged_into = survivor
    merged.save(update_fields=["merged_into"])


def apply_profile_updated(event: RecordedEvent) -> None:
    customer = Customer.objects.get(pk=event.metadata["customer_id"])
    customer = Customer.objects.get(pk=customer.merged_into_id) if customer.merged_into_id else customer
    data = event.data
    for name in ("name", "language", "timezone", "segment"):
        if data.get(name) is not None:
            setattr(customer, name, data[name])
    if data.get("birthday") is not None:
        customer.birthday = date.fromisoformat(data["birthday"])
    if data.get("preferences") is not None:
        customer.preferences = {**customer.preferences, **data["preferences"]}
    if data.get("consent") is not None:
        customer.consent = {**customer.consent, **data["consent"]}
    customer.save()


def apply_thread_opened(event: RecordedEvent) -> None:
    Thread.objects.create(
        id=event.data["thread_id"],
        customer_id=event.data["customer_id"],
        topic=event.data.get("topic") or "",
        opened_at=event.occurred_at,
        last_activity_at=event.occurred_at,
        last_position=event.position,
        version=event.stream_version,
    )


def apply_thread_assigned(event: RecordedEvent) -> None:
    Thread.objects.filter(pk=event.data["thread_id"]).update(
        assigned_agent=event.data["agent_id"], last_position=event.position, version=event.stream_version
    )


def apply_thread_resolved(event: RecordedEvent) -> None:
    Thread.objects.filter(pk=event.data["thread_id"]).update(
        status=ThreadStatus.RESOLVED,
        resolved_at=event.occurred_at,
        last_position=event.position,
        version=event.stream_version,
    )


def apply_thread_reopened(event: RecordedEvent) -> None:
    Thread.objects.filter(pk=event.data["thread_id"]).update(
        status=ThreadStatus.OPEN, resolved_at=None, last_position=event.position, version=event.stream_version
    )


def _channel(event: RecordedEvent) -> str:
    return event.data.get("channel") or ("voice" if event.type.startswith("call.") else "internal")


def _direction(event: RecordedEvent) -> str:
    if event.type == "message.received":
        return "inbound"
    if event.type == "message.sent":
        return "outbound"
    return event.data.get("direction") or ""


def _text(event: RecordedEvent) -> str:
    data = event.data
    return data.get("text") or data.get("comment") or data.get("reason") or ""


_DETAIL_FIELDS = (
    "subject_line",
    "duration_seconds",
    "disposition",
    "ivr_path",
    "queue",
    "to_agent_id",
    "to_queue",
    "metric",
    "score",
    "conversation_ref",
)


def apply_channel_event(event: RecordedEvent) -> None:
    """A message, call, survey or note: a timeline entry, the thread's activity, the customer's counts."""
    thread_id = event.metadata["thread_id"]
    data = event.data
    channel = _channel(event)
    details: dict[str, Any] = {k: data[k] for k in _DETAIL_FIELDS if k in data}
    if data.get("attachments"):
        details["attachments"] = len(data["attachments"])
    TimelineEntry.objects.create(
        position=event.position,
        thread_id=thread_id,
        occurred_at=event.occurred_at,
        type=event.type,
        channel=channel,
        direction=_direction(event),
        text=_text(event),
        agent_id=data.get("agent_id") or "",
        source=event.source,
        event_id=event.id,
        details=details,
    )
    thread = Thread.objects.select_related("customer").get(pk=thread_id)
    thread.event_count = F("event_count") + 1
    thread.last_activity_at = max(thread.last_activity_at, event.occurred_at)
    thread.last_position = event.position
    thread.version = event.stream_version
    if channel not in thread.channels:
        thread.channels = [*thread.channels, channel]
    if not thread.topic and data.get("topic"):
        thread.topic = data["topic"]
    thread.save(
        update_fields=["event_count", "last_activity_at", "last_position", "version", "channels", "topic"]
    )
    if data.get("conversation_ref"):
        # The first thread a reference was seen on keeps it.
        ConversationRef.objects.bulk_create(
            [ConversationRef(ref=data["conversation_ref"], thread_id=thread_id)], ignore_conflicts=True
        )

    customer = thread.customer
    fields: list[str] = []
    if event.type in CONTACT_TYPES:
        customer.channel_counts = {
            **customer.channel_counts,
            channel: customer.channel_counts.get(channel, 0) + 1,
        }
        customer.first_contact_at = _earlier(customer.first_contact_at, event.occurred_at)
        customer.last_contact_at = _later(customer.last_contact_at, event.occurred_at)
        fields += ["channel_counts", "first_contact_at", "last_contact_at"]
    if event.type == "survey.answered":
        answers = customer.surveys.get(data["metric"], [])
        answer = {"score": data["score"], "at": event.occurred_at.isoformat(), "position": event.position}
        customer.surveys = {**customer.surveys, data["metric"]: [*answers, answer][-SURVEY_HISTORY:]}
        fields.append("surveys")
    if fields:
        customer.save(update_fields=fields)


def apply_agent_status_changed(event: RecordedEvent) -> None:
    AgentPresence.objects.update_or_create(
        agent_id=event.data["agent_id"],
        defaults={"status": event.data["status"], "changed_at": event.occurred_at},
    )


_HANDLERS = {
    "customer.created": apply_customer_created,
    "customer.identified": apply_customer_identified,
    "customer.merged": apply_customer_merged,
    "customer.profile_updated": apply_profile_updated,
    "thread.opened": apply_thread_opened,
    "thread.assigned": apply_thread_assigned,
    "thread.resolved": apply_thread_resolved,
    "thread.reopened": apply_thread_reopened,
    "agent.status_changed": apply_agent_status_changed,
    **dict.fromkeys(THREADED_TYPES, apply_channel_event),
}
if set(_HANDLERS) != set(CATALOGUE):
    raise RuntimeError(f"no projector handler for {sorted(set(CATALOGUE) - set(_HANDLERS))}")

# Read-model tables, children first (the order DELETE needs).
READ_MODELS = (TimelineEntry, ConversationRef, Thread, CustomerIdentifier, Customer, AgentPresence)


class ContextProjector:
    name = "context"
    types = frozenset(_HANDLERS)

    def apply(self, event: RecordedEvent) -> None:
        _HANDLERS[event.type](event)

    def reset(self) -> None:
        # Plain DELETEs: the ORM's cascade collector would load every row into memory first.
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {Customer._meta.db_table} SET merged_into_id = NULL")
            for model in READ_MODELS:
                cursor.execute(f"DELETE FROM {model._meta.db_table}")


register_projector(ContextProjector())
