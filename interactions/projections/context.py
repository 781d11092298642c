"""The context projection: customers, identifiers, threads, conversation refs and timelines from the log.

Each `apply_*` function applies one recorded event to a unit of work (`Batch`) that holds the rows a run of
events touches; the batch loads them in two queries and writes them back with bulk statements, so a request
of 500 events or a rebuild page of 1,000 costs a handful of queries, not a handful per event. Decisions
(which customer, which thread) were made at ingestion and recorded in the log, so replaying gives the same
state; `tests/hub/test_projections.py` checks that a rebuild equals the incremental state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime

from hub.backends import backend
from hub.events import RecordedEvent
from interactions.agents.models import AgentPresence
from interactions.callbacks.models import Callback, CallbackState
from interactions.catalogue import (
    CALLBACK_OUTCOME_TYPES,
    CALLBACK_TYPES,
    CATALOGUE,
    CONTACT_TYPES,
    THREADED_TYPES,
)
from interactions.customers.models import Customer, CustomerIdentifier
from interactions.identity.identifiers import parse_identifier
from interactions.threads.models import ConversationRef, Thread, ThreadStatus, TimelineEntry

SURVEY_HISTORY = 5
CUSTOMER_FIELDS = [
    "merged_into", "name", "language", "timezone", "segment", "birthday", "preferences", "consent",
    "channel_counts", "first_contact_at", "last_contact_at", "surveys",
]  # fmt: skip
CALLBACK_FIELDS = [
    "state", "due_at", "attempt", "offer", "agent_id", "offer_expires_at", "tried_agents", "outcomes",
    "version", "updated_at",
]  # fmt: skip
THREAD_FIELDS = [
    "customer", "topic", "status", "opened_at", "last_activity_at", "resolved_at", "assigned_agent",
    "channels", "event_count", "last_position", "version",
]  # fmt: skip


class Batch:
    """The read-model rows a run of events touches, changed in memory and written back by `flush`.

    A rebuild's batch (`keep` > 0) lives across pages: `end_page` writes what only that page needed and keeps
    up to `keep` customers, threads and callbacks in memory, so a busy row is written once at the end
    instead of once per page. Updating the same rows page after page inside the rebuild's one transaction
    left chains of row versions that every later look-up walked: at 1.2M events, UPDATEs and row loads
    grew to half the rebuild. Nothing else writes these rows meanwhile: the rebuild holds the append lock.
    """

    def __init__(self, *, keep: int = 0) -> None:
        self.keep = keep
        self.page = 0
        self.last_page: dict[tuple[str, str], int] = {}  # (kind, key) -> the last page that used the row
        self._reset()

    def _reset(self) -> None:
        self.customers: dict[str, Customer] = {}
        self.threads: dict[str, Thread] = {}
        self.identifiers: dict[str, CustomerIdentifier] = {}
        self.callbacks: dict[str, Callback] = {}
        self.offered: dict[str, datetime] = {}  # agent id -> when they were last offered a callback
        self.new: set[tuple[str, str]] = set()  # ("customer" | "thread" | "identifier" | "callback", key)
        self.dirty: set[tuple[str, str]] = set()
        self.refs: dict[str, str] = {}
        self.timeline: list[tuple] = []  # timeline rows as values (see _timeline_row)
        self.presence: dict[str, tuple[str, datetime]] = {}
        self.checked_uris: set[str] = set()  # identifiers looked up already (found or not)
        self.last_page.clear()

    def _used(self, kind: str, keys: Iterable[str]) -> None:
        if self.keep:
            for key in keys:
                self.last_page[(kind, key)] = self.page

    def prefetch(self, events: list[RecordedEvent]) -> None:
        self.page += 1
        customer_ids, thread_ids, uris, callback_ids = set(), set(), set(), set()
        customers_of_threads: set[str] = set()  # threads whose customer the handlers change
        for event in events:
            if event.type in CALLBACK_TYPES:
                # A callback's step changes its own row and its thread's timeline, never the customer.
                if event.type != "callback.requested":
                    callback_ids.add(event.data["callback_id"])
                thread_ids.add(str(event.metadata["thread_id"]))
                continue
            if event.type == "customer.created":
                uris.update(event.data["identifiers"])
            elif event.type == "customer.identified":
                uris.add(event.data["identifier"])
            for source in (event.metadata, event.data):
                for key in ("customer_id", "survivor_id", "merged_id"):
                    if source.get(key):
                        customer_ids.add(str(source[key]))
                if source.get("thread_id"):
                    thread_ids.add(str(source["thread_id"]))
                    customers_of_threads.add(str(source["thread_id"]))
        self._used("thread", thread_ids)
        self._used("callback", callback_ids)
        thread_ids -= set(self.threads)
        for thread in backend().load_by(Thread, "id", thread_ids):
            self.threads[str(thread.pk)] = thread
        customer_ids |= {str(self.threads[t].customer_id) for t in customers_of_threads if t in self.threads}
        self._used("customer", customer_ids)
        customer_ids -= set(self.customers)
        for customer in backend().load_by(Customer, "id", customer_ids):
            self.customers[str(customer.pk)] = customer
        callback_ids -= set(self.callbacks)
        self.callbacks.update({str(c.pk): c for c in backend().load_by(Callback, "id", callback_ids)})
        self.identifiers.update({row.uri: row for row in backend().load_by(CustomerIdentifier, "uri", uris)})
        self.checked_uris |= uris

    def customer(self, customer_id: Any) -> Customer:
        key = str(customer_id)
        if key not in self.customers:
            self.customers[key] = Customer.objects.get(pk=key)
        self._used("customer", [key])
        customer = self.customers[key]
        return self.customer(customer.merged_into_id) if customer.merged_into_id else customer

    def thread(self, thread_id: Any) -> Thread:
        key = str(thread_id)
        if key not in self.threads:
            self.threads[key] = Thread.objects.get(pk=key)
            self._used("thread", [key])
        return self.threads[key]

    def callback(self, callback_id: Any) -> Callback:
        key = str(callback_id)
        if key not in self.callbacks:
            self.callbacks[key] = Callback.objects.get(pk=key)
            self._used("callback", [key])
        return self.callbacks[key]

    def _rows(self, kind: str) -> dict[str, Any]:
        return {
            "customer": self.customers,
            "thread": self.threads,
            "identifier": self.identifiers,
            "callback": self.callbacks,
        }[kind]

    def add(self, kind: str, key: str, row: Any) -> None:
        self._rows(kind)[key] = row
        self.new.add((kind, key))
        self._used(kind, [key])

    def touch(self, kind: str, key: Any) -> None:
        if (kind, str(key)) not in self.new:
            self.dirty.add((kind, str(key)))

    def _write(self, only: set[tuple[str, str]] | None = None) -> None:
        """Write the new and changed rows (all, or `only` these) and forget that they changed."""
        for kind, model, fields in (
            ("customer", Customer, CUSTOMER_FIELDS),
            ("identifier", CustomerIdentifier, ["customer"]),
            ("thread", Thread, THREAD_FIELDS),
            ("callback", Callback, CALLBACK_FIELDS),
        ):
            rows = self._rows(kind)
            new = [rows[key] for k, key in self.new if k == kind and (only is None or (k, key) in only)]
            dirty = [rows[key] for k, key in self.dirty if k == kind and (only is None or (k, key) in only)]
            backend().copy_rows(model, new)
            backend().update_rows(model, dirty, fields)
        if only is None:
            self.new.clear()
            self.dirty.clear()
        else:
            self.new -= only
            self.dirty -= only

    def _write_page(self) -> None:
        """Write what only this page holds: conversation refs, timeline rows, agents' presence."""
        # The first thread a reference was seen on keeps it.
        ConversationRef.objects.bulk_create(
            [ConversationRef(ref=ref, thread_id=thread_id) for ref, thread_id in self.refs.items()],
            ignore_conflicts=True,
        )
        backend().copy_values(TimelineEntry, self.timeline)
        for agent_id, (status, at) in self.presence.items():
            AgentPresence.objects.update_or_create(
                agent_id=agent_id, defaults={"status": status, "changed_at": at}
            )
        for agent_id, at in self.offered.items():
            AgentPresence.objects.filter(agent_id=agent_id).update(last_offered_at=at)
        self.refs, self.timeline, self.presence, self.offered = {}, [], {}, {}

    def flush(self) -> None:
        """Write everything back and start afresh."""
        self._write()
        self._write_page()
        self._reset()

    def end_page(self) -> None:
        """A rebuild's page is done: write its identifiers, refs and timeline rows; keep the busiest
        customers, threads and callbacks in memory (at most `keep`), writing the others back."""
        self._write(only={(k, key) for k, key in self.new | self.dirty if k == "identifier"})
        self._write_page()
        self.identifiers, self.checked_uris = {}, set()
        held = [(kind, key) for kind in ("customer", "thread", "callback") for key in self._rows(kind)]
        if len(held) <= self.keep:
            return
        held.sort(key=lambda row: self.last_page.get(row, 0))
        evicted = set(held[: len(held) - self.keep * 3 // 4])  # the least recently used, with headroom
        self._write(only=evicted)
        for kind, key in evicted:
            del self._rows(kind)[key]
            self.last_page.pop((kind, key), None)


_TIMELINE_FIELDS = [f.attname for f in TimelineEntry._meta.concrete_fields]


def _timeline_row(**values: Any) -> tuple:
    """A timeline row as values in the model's field order: every field must be given. A rebuild writes one
    per event, and a model instance built from keyword arguments cost more than writing it."""
    return tuple(values[name] for name in _TIMELINE_FIELDS)


def _add_identifiers(batch: Batch, customer_id: str, uris: list[str], at: datetime) -> None:
    unchecked = [u for u in uris if u not in batch.identifiers and u not in batch.checked_uris]
    if unchecked:
        batch.identifiers.update(
            {row.uri: row for row in CustomerIdentifier.objects.filter(uri__in=unchecked)}
        )
        batch.checked_uris.update(unchecked)
    for uri in uris:
        row = batch.identifiers.get(uri)
        if row is None:
            batch.add(
                "identifier",
                uri,
                CustomerIdentifier(
                    uri=uri, kind=parse_identifier(uri).kind, customer_id=customer_id, added_at=at
                ),
            )
        elif str(row.customer_id) != str(customer_id):
            row.customer_id = customer_id
            batch.touch("identifier", uri)


def apply_customer_created(batch: Batch, event: RecordedEvent) -> None:
    customer_id = event.data["customer_id"]
    batch.add("customer", customer_id, Customer(id=customer_id, created_at=event.occurred_at))
    _add_identifiers(batch, customer_id, event.data["identifiers"], event.occurred_at)


def apply_customer_identified(batch: Batch, event: RecordedEvent) -> None:
    _add_identifiers(batch, event.data["customer_id"], [event.data["identifier"]], event.occurred_at)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(x for x in (a, b) if x) if (a or b) else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(x for x in (a, b) if x) if (a or b) else None


def apply_customer_merged(batch: Batch, event: RecordedEvent) -> None:
    """Rare, and it moves rows outside the batch: write the batch, merge with SQL, start afresh."""
    batch.flush()
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


def apply_profile_updated(batch: Batch, event: RecordedEvent) -> None:
    customer = batch.customer(event.metadata["customer_id"])
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
    batch.touch("customer", customer.pk)


def apply_thread_opened(batch: Batch, event: RecordedEvent) -> None:
    thread_id = event.data["thread_id"]
    thread = Thread(
        id=thread_id,
        customer_id=event.data["customer_id"],
        topic=event.data.get("topic") or "",
        status=ThreadStatus.OPEN,
        opened_at=event.occurred_at,
        last_activity_at=event.occurred_at,
        last_position=event.position,
        version=event.stream_version,
        channels=[],
    )
    batch.add("thread", thread_id, thread)


def _thread_changed(batch: Batch, event: RecordedEvent, **fields: Any) -> None:
    thread = batch.thread(event.data["thread_id"])
    for name, value in fields.items():
        setattr(thread, name, value)
    thread.last_position, thread.version = event.position, event.stream_version
    batch.touch("thread", thread.pk)


def apply_thread_assigned(batch: Batch, event: RecordedEvent) -> None:
    _thread_changed(batch, event, assigned_agent=event.data["agent_id"])


def apply_thread_resolved(batch: Batch, event: RecordedEvent) -> None:
    _thread_changed(batch, event, status=ThreadStatus.RESOLVED, resolved_at=event.occurred_at)


def apply_thread_reopened(batch: Batch, event: RecordedEvent) -> None:
    _thread_changed(batch, event, status=ThreadStatus.OPEN, resolved_at=None)


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


def apply_channel_event(batch: Batch, event: RecordedEvent) -> None:
    """A message, call, survey or note: a timeline entry, the thread's activity, the customer's counts."""
    thread_id = event.metadata["thread_id"]
    data = event.data
    channel = _channel(event)
    details: dict[str, Any] = {k: data[k] for k in _DETAIL_FIELDS if k in data}
    if data.get("attachments"):
        details["attachments"] = len(data["attachments"])
    batch.timeline.append(
        _timeline_row(
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
    )
    thread = batch.thread(thread_id)
    thread.event_count += 1
    thread.last_activity_at = max(thread.last_activity_at, event.occurred_at)
    thread.last_position, thread.version = event.position, event.stream_version
    if channel not in thread.channels:
        thread.channels = [*thread.channels, channel]
    if not thread.topic and data.get("topic"):
        thread.topic = data["topic"]
    batch.touch("thread", thread_id)
    if data.get("conversation_ref"):
        batch.refs.setdefault(data["conversation_ref"], thread_id)

    customer = batch.customer(thread.customer_id)
    if event.type in CONTACT_TYPES:
        customer.channel_counts = {
            **customer.channel_counts,
            channel: customer.channel_counts.get(channel, 0) + 1,
        }
        customer.first_contact_at = _earlier(customer.first_contact_at, event.occurred_at)
        customer.last_contact_at = _later(customer.last_contact_at, event.occurred_at)
        batch.touch("customer", customer.pk)
    if event.type == "survey.answered":
        answers = customer.surveys.get(data["metric"], [])
        answer = {"score": data["score"], "at": event.occurred_at.isoformat(), "position": event.position}
        customer.surveys = {**customer.surveys, data["metric"]: [*answers, answer][-SURVEY_HISTORY:]}
        batch.touch("customer", customer.pk)


def apply_agent_status_changed(batch: Batch, event: RecordedEvent) -> None:
    batch.presence[event.data["agent_id"]] = (event.data["status"], event.occurred_at)


def _when(value: str) -> datetime:
    return parse_datetime(value)


def _callback_text(event: RecordedEvent, callback: Callback) -> str:
    data, kind = event.data, event.type.removeprefix("callback.")
    if kind == "requested":
        return f"Callback requested to {data['phone']}" + (
            f": {data['reason']}" if data.get("reason") else ""
        )
    if kind == "scheduled":
        return f"Callback attempt {data['attempt']} due at {data['due_at']}"
    if kind in ("expired", "cancelled"):
        return f"Callback {kind}: {data['reason']}"
    words = {"offered": "offered to", "accepted": "accepted by", "declined": "declined by"}
    if kind in words:
        return f"Callback attempt {data['attempt']} {words[kind]} agent {data['agent_id']}"
    if kind == "offer_timed_out":
        return f"Callback offer to agent {data['agent_id']} timed out"
    return f"Callback attempt {data['attempt']}: {kind.replace('_', ' ')}" + (
        f" ({data['note']})" if data.get("note") else ""
    )


def apply_callback_event(batch: Batch, event: RecordedEvent) -> None:
    """One step of a callback: its row in the dispatcher's table, and an entry on its thread's timeline."""
    data, kind = event.data, event.type
    callback_id = str(data["callback_id"])
    if kind == "callback.requested":
        callback = Callback(
            id=callback_id,
            thread_id=event.metadata["thread_id"],
            phone=data["phone"],
            reason=data.get("reason") or "",
            timezone=data.get("timezone") or "",
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
        batch.add("callback", callback_id, callback)
    else:
        callback = batch.callback(callback_id)
        batch.touch("callback", callback_id)
    if kind == "callback.scheduled":
        if data["attempt"] != callback.attempt:
            callback.tried_agents, callback.offer = [], 0
        callback.state, callback.attempt, callback.due_at = (
            CallbackState.SCHEDULED,
            data["attempt"],
            _when(data["due_at"]),
        )
        callback.agent_id, callback.offer_expires_at = "", None
    elif kind == "callback.offered":
        callback.state, callback.offer, callback.agent_id = (
            CallbackState.OFFERED,
            data["offer"],
            data["agent_id"],
        )
        callback.offer_expires_at = _when(data["expires_at"])
        callback.tried_agents = [*callback.tried_agents, data["agent_id"]]
        batch.offered[data["agent_id"]] = event.occurred_at
    elif kind == "callback.accepted":
        callback.state, callback.offer_expires_at = CallbackState.ACCEPTED, None
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

    thread = batch.thread(callback.thread_id)
    details = {k: v for k, v in data.items() if k in ("callback_id", "attempt", "offer", "due_at", "reason")}
    batch.timeline.append(
        _timeline_row(
            position=event.position,
            thread_id=thread.pk,
            occurred_at=event.occurred_at,
            type=kind,
            channel="callback",
            direction="inbound" if kind == "callback.requested" else "",
            text=_callback_text(event, callback),
            agent_id=data.get("agent_id") or "",
            source=event.source,
            event_id=event.id,
            details=details,
        )
    )
    thread.event_count += 1
    if kind == "callback.requested":
        thread.last_activity_at = max(thread.last_activity_at, event.occurred_at)
        if not thread.topic and data.get("topic"):
            thread.topic = data["topic"]
    batch.touch("thread", thread.pk)


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
    **dict.fromkeys(CALLBACK_TYPES, apply_callback_event),
}
if set(_HANDLERS) != set(CATALOGUE):
    raise RuntimeError(f"no projector handler for {sorted(set(CATALOGUE) - set(_HANDLERS))}")

# Read-model tables, children first (the order DELETE needs).
READ_MODELS = (Callback, TimelineEntry, ConversationRef, Thread, CustomerIdentifier, Customer, AgentPresence)


# Customers, threads and callbacks a rebuild keeps in memory between pages (see Batch); bounded, so memory
# stays flat however long the log.
REPLAY_KEEP = 50_000


class ContextProjector:
    name = "context"
    types = frozenset(_HANDLERS)

    def __init__(self) -> None:
        self._local = threading.local()  # the rebuild's batch, if this thread is rebuilding

    @contextmanager
    def replaying(self) -> Iterator[None]:
        """Bracket a rebuild's pages: rows stay in memory from one page to the next and are all written
        when the block ends without an error (on an error the rebuild's transaction rolls back anyway)."""
        self._local.replay = Batch(keep=REPLAY_KEEP)
        try:
            yield
            self._local.replay.flush()
        finally:
            self._local.replay = None

    def apply_all(self, events: list[RecordedEvent]) -> None:
        replay = getattr(self._local, "replay", None)
        batch = replay if replay is not None else Batch()
        batch.prefetch(events)
        for event in events:
            _HANDLERS[event.type](batch, event)
        if replay is None:
            batch.flush()
        else:
            batch.end_page()

    def apply(self, event: RecordedEvent) -> None:
        self.apply_all([event])

    def reset(self) -> None:
        # Plain DELETEs: the ORM's cascade collector would load every row into memory first.
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {Customer._meta.db_table} SET merged_into_id = NULL")
            for model in READ_MODELS:
                cursor.execute(f"DELETE FROM {model._meta.db_table}")
