"""Keeps placement's write model current, inline, in the append's transaction (a projector of the hub).

It applies the same decisions `PlacementView.record` makes in memory while a request is placed, so the next
request decides against them: identities and merges, threads with their state and last activity, and the
conversation keys seen on them.
"""

from __future__ import annotations

from hub.events import RecordedEvent
from hub.rows import RowProjector, UnitOfWork
from interactions.catalogue import (
    ACTIVITY_CALLBACK_TYPES,
    CALLBACK_TYPES,
    THREADED_TYPES,
    ThreadStatus,
    activity_at,
    created_by,
    identifiers_recorded,
    is_activity,
)
from interactions.placement.models import PlacedCustomer, PlacedIdentifier, PlacedRef, PlacedThread
from interactions.placement.rules import refs_recorded


class PlacementRows(UnitOfWork):
    tables = {
        "customer": (PlacedCustomer, ["merged_into"]),
        "identifier": (PlacedIdentifier, ["customer_id"]),
        "thread": (
            PlacedThread,
            ["customer_id", "topic", "status", "last_activity_at", "idled_at", "reopened_at"],
        ),
    }
    kept = ("customer", "thread")

    def start_page(self) -> None:
        self.refs: dict[str, str] = {}

    def write_page(self) -> None:
        PlacedRef.objects.bulk_create(
            [PlacedRef(ref=ref, thread_id=thread_id) for ref, thread_id in self.refs.items()],
            ignore_conflicts=True,  # the first thread a reference was seen on keeps it
        )


def _identify(rows: PlacementRows, customer_id: str, uris: list[str]) -> None:
    rows.load("identifier", uris)  # no query unless a merge in this page wrote the prefetched rows back
    for uri in uris:
        row = rows.rows["identifier"].get(uri)
        if row is None:
            rows.add("identifier", uri, PlacedIdentifier(uri=uri, customer_id=customer_id))
        elif str(row.customer_id) != str(customer_id):
            row.customer_id = customer_id
            rows.touch("identifier", uri)


def apply_customer_created(rows: PlacementRows, event: RecordedEvent) -> None:
    customer_id = event.data["customer_id"]
    rows.add("customer", customer_id, PlacedCustomer(id=customer_id, created_at=event.occurred_at))
    _identify(rows, customer_id, event.data["identifiers"])


def apply_customer_identified(rows: PlacementRows, event: RecordedEvent) -> None:
    _identify(rows, event.data["customer_id"], [event.data["identifier"]])


def apply_customer_merged(rows: PlacementRows, event: RecordedEvent) -> None:
    """Rare, and it moves rows outside the unit of work: write it, move them with SQL."""
    rows.flush()
    survivor, merged = event.data["survivor_id"], event.data["merged_id"]
    PlacedIdentifier.objects.filter(customer_id=merged).update(customer_id=survivor)
    PlacedThread.objects.filter(customer_id=merged).update(customer_id=survivor)
    PlacedCustomer.objects.filter(merged_into=merged).update(merged_into=survivor)
    PlacedCustomer.objects.filter(id=merged).update(merged_into=survivor)


def apply_thread_opened(rows: PlacementRows, event: RecordedEvent) -> None:
    data = event.data
    thread = PlacedThread(
        id=data["thread_id"],
        customer_id=data["customer_id"],
        topic=data.get("topic") or "",
        status=ThreadStatus.OPEN,
        opened_at=event.occurred_at,
        # Its first activity sets it (apply_contact, for the event that opened it if that is activity): a
        # thread a note, a survey answer or a status opened has had none, and rule 3 leaves it be.
        last_activity_at=None,
    )
    rows.add("thread", data["thread_id"], thread)


def _status(status: str):
    def apply(rows: PlacementRows, event: RecordedEvent) -> None:
        thread = rows.get("thread", event.data["thread_id"])
        thread.status, thread.idled_at = status, None
        if event.type == "thread.reopened":
            thread.reopened_at = activity_at(event)
        rows.touch("thread", thread.pk)

    return apply


def apply_thread_idled(rows: PlacementRows, event: RecordedEvent) -> None:
    """Recorded for the commands and the idling task only: the status stays open, so no rule of placement
    (rules.py) reads it, and a contact after it is placed as it would have been without it."""
    thread = rows.get("thread", event.data["thread_id"])
    thread.idled_at = event.occurred_at
    rows.touch("thread", thread.pk)


def apply_contact(rows: PlacementRows, event: RecordedEvent) -> None:
    """A channel event (or a callback request, or a completed callback call) is activity on its thread, may
    name its topic, and may carry a conversation key that later events continue."""
    thread_id = event.metadata["thread_id"]
    thread = rows.get("thread", thread_id)
    if is_activity(event.type, event.data):
        at = activity_at(event)
        thread.last_activity_at = at if thread.last_activity_at is None else max(thread.last_activity_at, at)
        thread.idled_at = None  # active again: idle no more
    if not thread.topic and event.data.get("topic"):
        thread.topic = event.data["topic"]
    rows.touch("thread", thread_id)
    for ref in refs_recorded(event.data):
        rows.refs.setdefault(ref, thread_id)


class PlacementProjector(RowProjector):
    name = "placement"
    # 2: only activity (catalogue.is_activity) moves a thread's last activity; a status, a note, a machine's
    # message no longer do (2026-12-05). Rows built before keep the old times until a rebuild. 3: a thread
    # has no last activity until activity reaches it; one a note, a survey answer or a status opened had
    # the opener's time, and collected the customer's next contact (2026-12-06). 4: thread.idled sets
    # `idled_at`, activity, a resolve and a reopen clear it (2026-12-06). 5: a reopen records `reopened_at`,
    # from which a reopened thread's quiet is counted (2026-12-06).
    version = 5
    unit = PlacementRows
    handlers = {
        "customer.created": apply_customer_created,
        "customer.identified": apply_customer_identified,
        "customer.merged": apply_customer_merged,
        "thread.opened": apply_thread_opened,
        "thread.resolved": _status(ThreadStatus.RESOLVED),
        "thread.reopened": _status(ThreadStatus.OPEN),
        "thread.idled": apply_thread_idled,
        **dict.fromkeys(THREADED_TYPES - CALLBACK_TYPES, apply_contact),
        # A call that reached the customer is contact as much as their message: their next one continues
        # the thread within the window from the call, not from what came before it.
        **dict.fromkeys(ACTIVITY_CALLBACK_TYPES, apply_contact),
    }
    tables = (PlacedRef, PlacedThread, PlacedIdentifier, PlacedCustomer)

    def prefetch(self, unit: UnitOfWork, events: list[RecordedEvent]) -> None:
        _, opened = created_by(events)  # a first contact's thread: nothing to load (a round trip per request)
        threads = {str(e.metadata["thread_id"]) for e in events if e.metadata.get("thread_id")}
        unit.load("thread", threads - opened)
        unit.load("identifier", identifiers_recorded(events))
