"""Placement of incoming events: which customer each is about and which task thread it continues.

Runs at ingestion after validation, under per-identifier and per-customer locks but before the global append
lock: a request's events are placed in memory, against a small view of the read models loaded in a few
queries and kept current as each event is placed, and only then appended together. Every decision becomes
an event or metadata in the log (`customer.created`, `customer.identified`, `customer.merged`,
`thread.opened`, `thread.reopened`, and the event's own `customer_id`/`thread_id`), so projections apply
recorded decisions and a rebuild reproduces them exactly.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from hub.backends import backend
from hub.events import NewEvent
from interactions.catalogue import (
    FOLLOWING_TYPES,
    INBOUND_TYPES,
    THREADED_TYPES,
    ThreadStatus,
    automated,
    hub_event,
    is_activity,
)
from interactions.identity.identifiers import parse_identifier
from interactions.placement.models import PlacedCustomer, PlacedIdentifier, PlacedRef, PlacedThread

# The hub events placement appends first on a stream it names after a new random id (`customer-<uuid4>`,
# `thread-<uuid4>`): their streams hold nothing yet.
CREATING_TYPES = frozenset(("customer.created", "thread.opened"))


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

    def stamped(self, event: NewEvent) -> NewEvent:
        """The event on its stream, with the decisions recorded in its metadata."""
        stream = f"thread-{self.thread_id}" if self.thread_id else f"customer-{self.customer_id}"
        return replace(_stamp(event, self.customer_id, self.thread_id), stream=stream)


@dataclass
class ThreadInfo:
    id: str
    customer_id: str
    topic: str
    status: str
    opened_at: datetime
    last_activity_at: datetime | None  # None: no activity has reached it yet (opened by a note, say)


def continuation_window() -> timedelta:
    return timedelta(hours=settings.THREADLINE_CONTINUATION_WINDOW_HOURS)


def identifiers_of(event: NewEvent) -> list[str]:
    uris = [event.subject]
    for raw in event.data.get("identifiers") or []:
        uri = parse_identifier(raw).uri
        if uri not in uris:
            uris.append(uri)
    return uris


def _refs(event: NewEvent) -> list[str]:
    """Conversation keys this event continues, most specific first: for a delivery status, the message it
    is about (`message_ref`: the provider's id of a message the hub recorded)."""
    data = event.data
    refs = [data.get("in_reply_to"), *reversed(data.get("references") or []), data.get("conversation_ref")]
    if event.type in FOLLOWING_TYPES:
        refs.insert(0, data.get("message_ref"))
    return [r for r in refs if r]


def refs_recorded(data: dict[str, Any]) -> list[str]:
    """The keys a channel event leaves for later events to continue: its conversation key and the provider's
    id of the message (statuses name it)."""
    return [r for r in (data.get("conversation_ref"), data.get("message_ref")) if r]


def _known_identifiers(uris: set[str]) -> list[tuple[str, Any]]:
    """(uri, customer id) of the identifiers already known among `uris`."""
    return backend().load_by(PlacedIdentifier, "uri", uris, fields=["uri", "customer_id"])


_THREAD_COLUMNS = ["id", "customer_id", "topic", "status", "opened_at", "last_activity_at"]


def _candidate_threads(customer_ids: set[str], active_since: datetime, named: set[str]) -> list[tuple]:
    """(id, customer id, topic, status, opened_at, last_activity_at) of the customers' open threads active
    since `active_since`, and of the threads named (by id or through a conversation reference)."""
    db = backend()
    recent = Q(status=ThreadStatus.OPEN, last_activity_at__gte=active_since)
    rows = db.load_by(PlacedThread, "customer_id", customer_ids, fields=_THREAD_COLUMNS, where=recent)
    rows += db.load_by(PlacedThread, "id", named, fields=_THREAD_COLUMNS)
    return list({row[0]: row for row in rows}.values())


class PlacementView:
    """The part of the read models placement decides from, for one request, updated as events are placed."""

    def __init__(self) -> None:
        self.identifiers: dict[str, str] = {}  # uri -> customer id
        # customer id -> sort key for choosing survivors: the customers created in this request, and those
        # of a merge (loaded then)
        self.created: dict[str, tuple[datetime, str]] = {}
        self.threads: dict[str, ThreadInfo] = {}
        self.customer_threads: dict[str, set[str]] = {}  # customer id -> ids of its threads in the view
        self.refs: dict[str, str] = {}  # conversation ref -> thread id

    @staticmethod
    def customers_for(events: list[NewEvent]) -> set[str]:
        """The customers the events' identifiers resolve to now (one query), to lock them."""
        uris = {uri for event in events for uri in identifiers_of(event)}
        return {str(customer_id) for _, customer_id in _known_identifiers(uris)}

    @classmethod
    def load(cls, events: list[NewEvent]) -> PlacementView:
        view = cls()
        uris = {uri for event in events for uri in identifiers_of(event)}
        for uri, customer_id in _known_identifiers(uris):
            view.identifiers[uri] = str(customer_id)
        refs = {ref for event in events for ref in _refs(event)}
        if refs:
            view.refs = {
                r: str(t) for r, t in PlacedRef.objects.filter(ref__in=refs).values_list("ref", "thread_id")
            }
        named = {str(e.data["thread_id"]) for e in events if e.data.get("thread_id")} | set(
            view.refs.values()
        )
        # Rule 3 continues only an open thread active within the window before the event, so older open
        # threads are never candidates: leaving them out keeps the view (and placement's cost) the size of
        # a customer's recent activity, not of their whole history.
        earliest = min([e.occurred_at for e in events if e.occurred_at] + [timezone.now()])
        threads = _candidate_threads(set(view.identifiers.values()), earliest - continuation_window(), named)
        for thread_id, customer_id, *rest in threads:
            view._add_thread(ThreadInfo(str(thread_id), str(customer_id), *rest))
        return view

    def _load_created(self, customer_ids: list[str]) -> None:
        """When each of these customers was created, for choosing a merge's survivor. Read only when a merge
        is decided (rare), under the customers' locks; a customer's creation time never changes."""
        missing = {c for c in customer_ids if c not in self.created}
        for customer_id, created_at in backend().load_by(
            PlacedCustomer, "id", missing, fields=["id", "created_at"]
        ):
            self.created[str(customer_id)] = (created_at, str(customer_id))

    def _add_thread(self, thread: ThreadInfo) -> None:
        self.threads[thread.id] = thread
        self.customer_threads.setdefault(thread.customer_id, set()).add(thread.id)

    def customer_ids(self) -> set[str]:
        return set(self.identifiers.values())

    def record(self, events: list[NewEvent]) -> None:
        """Apply what placement needs to know of these events, in memory, as the write model's projector
        (interactions.placement.projector) will when they are appended."""
        for event in events:
            data = event.data
            if event.type == "customer.created":
                for uri in data["identifiers"]:
                    self.identifiers[uri] = data["customer_id"]
                self.created[data["customer_id"]] = (event.occurred_at, data["customer_id"])
            elif event.type == "customer.identified":
                self.identifiers[data["identifier"]] = data["customer_id"]
            elif event.type == "customer.merged":
                survivor, merged = data["survivor_id"], data["merged_id"]
                self.identifiers = {u: survivor if c == merged else c for u, c in self.identifiers.items()}
                for thread_id in self.customer_threads.pop(merged, set()):
                    self.threads[thread_id].customer_id = survivor
                    self.customer_threads.setdefault(survivor, set()).add(thread_id)
            elif event.type == "thread.opened":
                self._add_thread(
                    ThreadInfo(
                        data["thread_id"],
                        data["customer_id"],
                        data.get("topic") or "",
                        ThreadStatus.OPEN,
                        event.occurred_at,
                        None,  # as the projector opens it: its first activity (next) sets it
                    )
                )
            elif event.type == "thread.reopened":
                self.threads[data["thread_id"]].status = ThreadStatus.OPEN
            elif event.type in THREADED_TYPES:
                thread = self.threads[event.metadata["thread_id"]]
                if is_activity(event.type, data):  # as the projector records it (apply_contact)
                    last, at = thread.last_activity_at, event.occurred_at
                    thread.last_activity_at = at if last is None else max(last, at)
                if not thread.topic and data.get("topic"):
                    thread.topic = data["topic"]
                for ref in refs_recorded(data):
                    self.refs.setdefault(ref, thread.id)

    # --- the rules -------------------------------------------------------------------------------------

    def _customer(self, event: NewEvent, at: datetime) -> tuple[str, list[str], list[NewEvent]]:
        """The surviving customer's id, every customer id now folded into it, and the identity events."""
        uris = identifiers_of(event)
        known = {uri: self.identifiers[uri] for uri in uris if uri in self.identifiers}
        if not known:
            customer_id = str(uuid.uuid4())
            data = {"customer_id": customer_id, "identifiers": uris}
            return (
                customer_id,
                [customer_id],
                [hub_event("customer.created", f"customer-{customer_id}", data, cause=event, at=at)],
            )
        customers = sorted(set(known.values()))
        if len(customers) > 1:  # a merge: the oldest customer survives
            self._load_created(customers)
            customers.sort(key=lambda c: self.created[c])
        survivor = customers[0]
        stream = f"customer-{survivor}"
        prelude = [
            hub_event(
                "customer.merged", stream, {"survivor_id": survivor, "merged_id": other}, cause=event, at=at
            )
            for other in customers[1:]
        ]
        prelude += [
            hub_event(
                "customer.identified",
                stream,
                {"customer_id": survivor, "identifier": uri},
                cause=event,
                at=at,
            )
            for uri in uris
            if uri not in known
        ]
        return survivor, customers, prelude

    def _thread(self, event: NewEvent, customer_id: str, customer_ids: list[str], at: datetime):
        data = event.data
        window = continuation_window()
        machine = automated(data)  # an auto-reply or a bounce: not the customer writing
        # A call the customer makes is them contacting again; what follows it (its end, its transfer, its
        # recording) is not: a resolve made during a call was undone by Twilio's completed callback after it.
        inbound = (event.type in INBOUND_TYPES and not machine) or (
            event.type == "call.started" and data.get("direction") == "inbound"
        )
        topic = data.get("topic") or ""

        def reopen_if_needed(thread: ThreadInfo) -> list[NewEvent]:
            if thread.status == ThreadStatus.RESOLVED and inbound:
                return [
                    hub_event(
                        "thread.reopened", f"thread-{thread.id}", {"thread_id": thread.id}, cause=event, at=at
                    )
                ]
            return []

        # 1. The event names a thread.
        if data.get("thread_id"):
            thread = self.threads.get(str(data["thread_id"]))
            if thread is None:
                raise PlacementError("data.thread_id", f"no thread {data['thread_id']}")
            if thread.customer_id not in customer_ids:
                raise PlacementError(
                    "data.thread_id", f"thread {data['thread_id']} belongs to another customer"
                )
            return thread.id, reopen_if_needed(thread)

        # 2. It continues a conversation the hub has seen (e-mail In-Reply-To/References, chat, call id).
        following = event.type in FOLLOWING_TYPES  # a status, recording or transcript of an earlier one
        for ref in _refs(event):
            thread = self.threads.get(self.refs.get(ref, ""))
            if thread is None or thread.customer_id not in customer_ids:
                continue
            # What follows a message or call (a status, a recording), or a machine's answer to it (a late
            # bounce), joins its thread however long ago it was resolved, and, not being the customer's,
            # reopens nothing: it is no new objective of the customer's.
            if (
                thread.status == ThreadStatus.OPEN
                or (thread.last_activity_at is not None and at - thread.last_activity_at <= window)
                or following
                or machine
            ):
                return thread.id, reopen_if_needed(thread)
            break  # a reply to a long-closed conversation is a new objective

        # 3. An open thread of the customer, active within the window, whose topic does not differ.
        candidates = sorted(
            (
                t
                for t in (self.threads[i] for c in customer_ids for i in self.customer_threads.get(c, ()))
                if t.customer_id in customer_ids
                and t.status == ThreadStatus.OPEN
                and t.last_activity_at is not None
                and t.last_activity_at >= at - window
            ),
            key=lambda t: (t.last_activity_at, t.opened_at),
            reverse=True,
        )
        compatible = [t for t in candidates if not topic or not t.topic or t.topic == topic]
        if compatible:
            same_topic = [t for t in compatible if topic and t.topic == topic]
            return (same_topic or compatible)[0].id, []

        # 4. A new objective.
        thread_id = str(uuid.uuid4())
        data = {"thread_id": thread_id, "customer_id": customer_id, "topic": topic or None}
        return thread_id, [hub_event("thread.opened", f"thread-{thread_id}", data, cause=event, at=at)]

    def decide(self, event: NewEvent, *, now: datetime) -> Placement:
        """Decide the customer and thread of a validated event, and record the decision in the view."""
        # Its time, but never after now (as `activity_at` reads it once recorded): a future stamp must not
        # keep a thread collecting contacts until that date.
        at = min(event.occurred_at or now, now)
        customer_id, customer_ids, prelude = self._customer(event, at)
        prelude = [_stamp(e, customer_id, None) for e in prelude]
        thread_id = None
        if event.type in THREADED_TYPES:
            thread_id, thread_events = self._thread(event, customer_id, customer_ids, at)
            prelude += [_stamp(e, customer_id, thread_id) for e in thread_events]
        placement = Placement(customer_id, thread_id, prelude)
        self.record([*prelude, replace(placement.stamped(event), occurred_at=at)])
        return placement


def _stamp(event: NewEvent, customer_id: str, thread_id: str | None) -> NewEvent:
    """Record the customer (and thread) an event concerns."""
    metadata = {**event.metadata, "customer_id": customer_id}
    if thread_id:
        metadata["thread_id"] = thread_id
    return replace(event, metadata=metadata)
