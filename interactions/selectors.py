"""Reads of the domain: the log as an integration sees it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.models import Exists, F, OuterRef, QuerySet, Window
from django.db.models.functions import RowNumber

from hub import store
from hub.errors import NotFound
from interactions.errors import Forbidden, InvalidIdentifier, InvalidRequest
from interactions.identifiers import parse_identifier
from interactions.models import (
    ApiToken,
    Callback,
    CallbackState,
    Customer,
    CustomerIdentifier,
    Role,
    Thread,
    ThreadStatus,
    TimelineEntry,
)
from interactions.tokens import log_source_filter, may_read_log


def log_page(*, token: ApiToken, after: int, limit: int) -> dict[str, Any]:
    """One page of the log after `after`, limited to the token's sources for integration tokens."""
    if not may_read_log(token):
        raise Forbidden(f"a {token.role} token may not read the raw log; read the customer context instead")
    events = store.read_after(after, limit=limit + 1, source_prefix=log_source_filter(token))
    has_more = len(events) > limit
    events = events[:limit]
    return {
        "events": [
            {
                "position": e.position,
                "stream": e.stream,
                "stream_version": e.stream_version,
                "schema_version": e.schema_version,
                "recorded_at": e.recorded_at,
                "metadata": e.metadata,
                "event": e.to_cloudevent(),
            }
            for e in events
        ],
        "next_after": events[-1].position if events else after,
        "has_more": has_more,
    }


# --- Customers, context and threads ------------------------------------------------------------------------

RECENT_ENTRIES = 20  # timeline entries per open thread in a context answer
OPEN_THREADS = 10
RESOLVED_THREADS = 5


def may_read_context(token: ApiToken) -> bool:
    """Agents, supervisors, admins, and integrations (an IVR or a bot asks before it answers)."""
    return token.role in (Role.INTEGRATION, Role.AGENT, Role.SUPERVISOR, Role.ADMIN)


def require_may_read_context(token: ApiToken) -> None:
    if not may_read_context(token):
        raise Forbidden(f"a {token.role} token may not read customer context")


def customer_get(customer_id: uuid.UUID | str) -> Customer:
    """The customer, or the survivor it was merged into."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    if customer.merged_into_id:
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer


def customer_get_by_identifier(identifier: str) -> Customer:
    """The customer behind an identifier URI (normalised first)."""
    try:
        uri = parse_identifier(identifier).uri
    except InvalidIdentifier as exc:
        raise InvalidRequest(
            str(exc), extra={"errors": [{"field": "identifier", "message": str(exc)}]}
        ) from exc
    row = CustomerIdentifier.objects.filter(uri=uri).select_related("customer").first()
    if row is None:
        raise NotFound(f"no customer has the identifier {uri}")
    return row.customer


def customer_identifiers(customer: Customer) -> list[str]:
    """The customer's identifier URIs, oldest first."""
    return list(
        CustomerIdentifier.objects.filter(customer=customer)
        .order_by("added_at", "uri")
        .values_list("uri", flat=True)
    )


def timeline_entry(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "occurred_at": entry.occurred_at,
        "type": entry.type,
        "channel": entry.channel,
        "direction": entry.direction,
        "text": entry.text,
        "agent_id": entry.agent_id or None,
        "details": entry.details,
    }


def thread_brief(thread: Thread) -> dict[str, Any]:
    return {
        "id": thread.pk,
        "customer_id": thread.customer_id,
        "topic": thread.topic or None,
        "status": thread.status,
        "opened_at": thread.opened_at,
        "last_activity_at": thread.last_activity_at,
        "resolved_at": thread.resolved_at,
        "assigned_agent": thread.assigned_agent or None,
        "channels": thread.channels,
        "event_count": thread.event_count,
        "version": thread.version,
    }


def _survey_summary(answers: list[dict[str, Any]]) -> dict[str, Any]:
    last = answers[-1]
    trend = None
    if len(answers) > 1:
        earlier = sum(a["score"] for a in answers[:-1]) / (len(answers) - 1)
        trend = "up" if last["score"] > earlier else "down" if last["score"] < earlier else "flat"
    return {"last": last["score"], "at": last["at"], "trend": trend, "history": [a["score"] for a in answers]}


def _profile(customer: Customer, identifiers: list[str]) -> dict[str, Any]:
    return {
        "id": customer.pk,
        "identifiers": identifiers,
        "name": customer.name or None,
        "language": customer.language or None,
        "timezone": customer.timezone or None,
        "segment": customer.segment or None,
        "birthday": customer.birthday,
        "preferences": customer.preferences,
        "consent": customer.consent,
        "channel_counts": customer.channel_counts,
        "first_contact_at": customer.first_contact_at,
        "last_contact_at": customer.last_contact_at,
    }


def _recent_entries(thread_ids: list) -> Iterable[TimelineEntry]:
    """Each thread's latest RECENT_ENTRIES timeline entries, in one query that does not grow with history."""
    if not thread_ids:
        return []
    if connection.vendor == "postgresql":
        # LATERAL with LIMIT walks the (thread, occurred_at, position) index backwards: 20 rows per thread,
        # whatever the thread's length. A window function would number every entry of the thread first.
        table = connection.ops.quote_name(TimelineEntry._meta.db_table)
        return TimelineEntry.objects.raw(
            f"SELECT e.* FROM unnest(%s::uuid[]) AS t(id) CROSS JOIN LATERAL ("
            f" SELECT * FROM {table} x WHERE x.thread_id = t.id"
            " ORDER BY x.occurred_at DESC, x.position DESC LIMIT %s) AS e",
            [thread_ids, RECENT_ENTRIES],
        )
    return (
        TimelineEntry.objects.filter(thread__in=thread_ids)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("thread_id")],
                order_by=[F("occurred_at").desc(), F("position").desc()],
            )
        )
        .filter(rank__lte=RECENT_ENTRIES)
    )


def context_get(customer: Customer) -> dict[str, Any]:
    """Everything an agent, IVR or bot needs before answering, in a fixed number of queries."""
    identifiers = customer_identifiers(customer)
    open_threads = list(
        Thread.objects.filter(customer=customer, status=ThreadStatus.OPEN).order_by("-last_activity_at")[
            :OPEN_THREADS
        ]
    )
    recent = _recent_entries([t.pk for t in open_threads])
    by_thread: dict[Any, list[TimelineEntry]] = {t.pk: [] for t in open_threads}
    for entry in recent:
        by_thread[entry.thread_id].append(entry)
    resolved = Thread.objects.filter(customer=customer, status=ThreadStatus.RESOLVED).order_by(
        "-resolved_at"
    )[:RESOLVED_THREADS]
    return {
        "customer": _profile(customer, identifiers),
        "open_threads": [
            {
                **thread_brief(t),
                # Oldest first, as a conversation reads; only the most recent entries.
                "recent": [
                    timeline_entry(e)
                    for e in sorted(by_thread[t.pk], key=lambda e: (e.occurred_at, e.position))
                ],
            }
            for t in open_threads
        ],
        "recently_resolved": [thread_brief(t) for t in resolved],
        "pending_callbacks": [
            callback_brief(c)
            for c in Callback.objects.filter(thread__customer=customer, state__in=Callback.ACTIVE).order_by(
                "due_at", "pk"
            )
        ],
        "surveys": {
            metric: _survey_summary(answers) for metric, answers in customer.surveys.items() if answers
        },
    }


def thread_list(
    *, customer_id: uuid.UUID | None = None, status: str | None = None, channel: str | None = None
) -> QuerySet[Thread]:
    query = Thread.objects.all()
    if customer_id is not None:
        query = query.filter(customer=customer_get(customer_id))
    if status:
        query = query.filter(status=status)
    if channel:
        query = query.filter(Exists(TimelineEntry.objects.filter(thread=OuterRef("pk"), channel=channel)))
    return query.order_by("-last_activity_at", "pk")


def thread_get(thread_id: uuid.UUID | str) -> Thread:
    thread = Thread.objects.filter(pk=thread_id).first()
    if thread is None:
        raise NotFound(f"no thread {thread_id}")
    return thread


def thread_timeline(thread: Thread) -> QuerySet[TimelineEntry]:
    """The full timeline in the order things happened; ties (and late arrivals) by log position."""
    return TimelineEntry.objects.filter(thread=thread).order_by("occurred_at", "position")


# --- Callbacks ---------------------------------------------------------------------------------------------

OFFER_TIMELINE = 20  # recent entries of the thread in an offer
OFFER_TEXT_MAX = 2000  # characters of each entry's text in an offer (the thread has the whole text)


def callback_brief(callback: Callback) -> dict[str, Any]:
    return {
        "id": callback.pk,
        "thread_id": callback.thread_id,
        "state": callback.state,
        "phone": callback.phone,
        "reason": callback.reason,
        "timezone": callback.timezone or None,
        "requested_at": callback.requested_at,
        "not_before": callback.not_before,
        "window_end": callback.window_end,
        "due_at": callback.due_at,
        "attempt": callback.attempt,
        "agent_id": callback.agent_id or None,
        "offer_expires_at": callback.offer_expires_at,
        "outcomes": callback.outcomes,
        "version": callback.version,
    }


def callback_get(callback_id: uuid.UUID | str) -> Callback:
    callback = Callback.objects.filter(pk=callback_id).first()
    if callback is None:
        raise NotFound(f"no callback {callback_id}")
    return callback


def callback_list(*, state: str | None = None, agent_id: str | None = None) -> QuerySet[Callback]:
    query = Callback.objects.all()
    if state:
        if state not in CallbackState.values:
            raise InvalidRequest(
                f"state is one of {', '.join(CallbackState.values)}",
                extra={"errors": [{"field": "state", "message": f"unknown state {state!r}"}]},
            )
        query = query.filter(state=state)
    if agent_id:
        query = query.filter(agent_id=agent_id)
    return query.order_by("due_at", "pk")


def callback_offer_context(callback: Callback, thread: Thread, now: Any) -> dict[str, Any]:
    """What an agent needs to dial: who, why, what was said on every channel, earlier attempts, local time."""
    from zoneinfo import ZoneInfo

    customer = customer_get(thread.customer_id)
    identifiers = customer_identifiers(customer)
    entries = list(
        TimelineEntry.objects.filter(thread=thread).order_by("-occurred_at", "-position")[:OFFER_TIMELINE]
    )
    recent = []
    for entry in reversed(entries):
        item = timeline_entry(entry)
        if len(item["text"]) > OFFER_TEXT_MAX:
            item["text"] = item["text"][:OFFER_TEXT_MAX] + "…"
        recent.append(item)
    zone = callback.timezone or customer.timezone
    return {
        "callback_id": callback.pk,
        "phone": callback.phone,
        "reason": callback.reason,
        "attempt": callback.attempt,
        "earlier_attempts": callback.outcomes,
        "window_end": callback.window_end,
        "customer": _profile(customer, identifiers),
        "customer_timezone": zone or None,
        "customer_local_time": now.astimezone(ZoneInfo(zone)).isoformat() if zone else None,
        "thread": thread_brief(thread),
        "recent": recent,
    }


# --- Live subscriptions -------------------------------------------------------------------------------------


class TopicError(Exception):
    """A subscription topic that is malformed, unknown, or not for this token."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def may_subscribe(token: ApiToken) -> bool:
    """People's desktops and wallboards subscribe; integrations post and replay instead."""
    return token.role in (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)


def subscription_topics(token: ApiToken, topic: object) -> set[str]:
    """The topics a subscription to `topic` listens on: its canonical form (`agent:me` becomes
    `agent:<id>`, a merged customer its survivor) and, for a merged customer, its own id as well, so that a
    resume from before the merge also replays what was placed on it then."""
    canonical = subscription_topic(token, topic)
    kind, _, raw_id = str(topic).partition(":")
    if kind == "customer" and canonical != (given := f"customer:{uuid.UUID(raw_id)}"):
        return {canonical, given}
    return {canonical}


def merge_followed(topics: set[str], event: store.RecordedEvent) -> str | None:
    """The survivor's topic a subscription must add when `event` merges one of its customers, else None."""
    if event.type != "customer.merged":
        return None
    survivor = f"customer:{event.data['survivor_id']}"
    if f"customer:{event.data['merged_id']}" in topics and survivor not in topics:
        return survivor
    return None


def subscription_topic(token: ApiToken, topic: object) -> str:
    """The canonical form of a topic: `agent:me` becomes `agent:<id>`, a merged customer its survivor."""
    if not isinstance(topic, str):
        raise TopicError(
            "bad_topic", "a topic is a string such as customer:<id>, thread:<id>, agent:me or all"
        )
    if topic == "all":
        if token.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise TopicError("forbidden", "only supervisors may subscribe to all")
        return topic
    if topic == "agent:me":
        return f"agent:{token.pk}"
    kind, _, raw_id = topic.partition(":")
    try:
        key = uuid.UUID(raw_id)
    except ValueError:
        raise TopicError(
            "bad_topic", f"{topic!r} is not customer:<id>, thread:<id>, agent:me or all"
        ) from None
    if kind == "customer":
        customer = Customer.objects.filter(pk=key).first()
        if customer is None:
            raise TopicError("not_found", f"no customer {key}")
        return f"customer:{customer.merged_into_id or customer.pk}"
    if kind == "thread":
        if not Thread.objects.filter(pk=key).exists():
            raise TopicError("not_found", f"no thread {key}")
        return f"thread:{key}"
    raise TopicError("bad_topic", f"{topic!r} is not customer:<id>, thread:<id>, agent:me or all")


def event_topics(event: store.RecordedEvent) -> set[str]:
    """Every topic an event is delivered on."""
    data, metadata = event.data, event.metadata
    topics = {"all"}
    for key in ("customer_id", "survivor_id", "merged_id"):
        for source in (metadata, data):
            if source.get(key):
                topics.add(f"customer:{source[key]}")
    for source in (metadata, data):
        if source.get("thread_id"):
            topics.add(f"thread:{source['thread_id']}")
    if (event.type in AGENT_EVENT_TYPES or event.type.startswith("callback.")) and data.get("agent_id"):
        topics.add(f"agent:{data['agent_id']}")
    return topics


# Events that concern one agent: their assignments, their presence, and every step of a callback offered to
# them (the offer itself, its time-out, a cancellation, their own answers).
AGENT_EVENT_TYPES = {"thread.assigned", "agent.status_changed"}


def event_for_subscriber(event: store.RecordedEvent) -> dict[str, Any]:
    """The CloudEvent as stored, with the customer and thread it was placed on."""
    return {
        **event.to_cloudevent(),
        "customer_id": event.metadata.get("customer_id"),
        "thread_id": event.metadata.get("thread_id") or event.data.get("thread_id"),
    }
