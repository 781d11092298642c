"""Reads of callbacks: one, a list by state and agent, and the context an offer carries to the agent."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Max, QuerySet

from hub import log
from hub.errors import NotFound
from hub.events import RecordedEvent, isoformat_z
from interactions.callbacks.hours import InvalidHours
from interactions.callbacks.hours import zone as hours_zone
from interactions.callbacks.models import Callback, CallbackState
from interactions.catalogue import HUB_SOURCE
from interactions.customers.models import Customer
from interactions.customers.selectors import customer_get, customer_identifiers, customer_profile
from interactions.errors import InvalidRequest
from interactions.threads.models import Thread, TimelineEntry
from interactions.threads.selectors import thread_brief, timeline_entry

OFFER_TIMELINE = 20  # recent entries of the thread in an offer
OFFER_TEXT_MAX = 2000  # characters of each entry's text in an offer (the thread has the whole text)


def callback_stream(callback_id: uuid.UUID | str) -> str:
    return f"callback-{callback_id}"


def callback_positions(callbacks: Iterable[Callback], *, version: int | None = None) -> dict[str, int]:
    """The log position of each callback's latest step (or of step `version`: 1 is its request), by id."""
    callbacks = list(callbacks)
    found = log.positions_of(
        (callback_stream(c.pk), c.version if version is None else version) for c in callbacks
    )
    return {
        str(c.pk): found[key]
        for c in callbacks
        if (key := (callback_stream(c.pk), c.version if version is None else version)) in found
    }


def callback_briefs(callbacks: Iterable[Callback]) -> list[dict[str, Any]]:
    """Each callback as callback_brief shows it, their positions read in one query."""
    callbacks = list(callbacks)
    positions = callback_positions(callbacks)
    return [callback_brief(c, positions.get(str(c.pk), 0)) for c in callbacks]


def customer_callbacks_active(customer_id: uuid.UUID) -> list[Callback]:
    """The customer's callbacks not yet done (scheduled, offered, accepted), soonest due first; written out,
    as the context read sends it on every read."""
    callbacks, threads = Callback._meta.db_table, Thread._meta.db_table
    states = ", ".join(["%s"] * len(Callback.ACTIVE))
    sql = (
        f"SELECT c.* FROM {callbacks} c JOIN {threads} t ON t.id = c.thread_id"
        f" WHERE t.customer_id = %s AND c.state IN ({states}) ORDER BY c.due_at, c.id"
    )
    customer = Thread._meta.get_field("customer").get_db_prep_value(customer_id, connection)
    return list(Callback.objects.raw(sql, [customer, *(str(s) for s in Callback.ACTIVE)]))


def customer_callback_reached_at(customer_id: uuid.UUID) -> datetime | None:
    """When a callback last reached the customer (its call completed), on any of their threads, resolved
    ones included; None if none has. Completed is a callback's last state, so its row's last change is the
    completing event's time."""
    return Callback.objects.filter(thread__customer_id=customer_id, state=CallbackState.COMPLETED).aggregate(
        at=Max("updated_at")
    )["at"]


def _z(at: Any) -> Any:
    return isoformat_z(at) if isinstance(at, str) else at


def callback_brief(callback: Callback, position: int | None = None) -> dict[str, Any]:
    """A callback for an answer; `position` (the log position of its latest step, which a client may pass
    as min_position) is read from the log when not given."""
    if position is None:
        position = callback_positions([callback]).get(str(callback.pk), 0)
    return {
        "id": callback.pk,
        "thread_id": callback.thread_id,
        "state": callback.state,
        "phone": callback.phone,
        "reason": callback.reason,
        "timezone": callback.timezone or None,
        "requested_timezone": callback.requested_timezone or None,
        "requested_at": callback.requested_at,
        "not_before": callback.not_before,
        "window_end": callback.window_end,
        "due_at": callback.due_at,
        "attempt": callback.attempt,
        "offer": callback.offer,
        "agent_id": callback.agent_id or None,
        "offer_expires_at": callback.offer_expires_at,
        "accepted_at": callback.accepted_at,
        "overdue_at": callback.overdue_at,
        # Kept as isoformat wrote them (+00:00); the API writes every other time with Z.
        "outcomes": [{**o, "at": _z(o["at"])} if "at" in o else o for o in callback.outcomes],
        "version": callback.version,
        "position": position,
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


def customer_timezones(customer_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each customer's current profile zone (a merged customer's is its survivor's), by the id asked for."""
    rows = {pk: (zone, survivor) for pk, zone, survivor in _zones(customer_ids)}
    survivors = {pk: zone for pk, zone, _ in _zones({s for _, s in rows.values() if s})}
    return {pk: survivors.get(survivor, "") if survivor else zone for pk, (zone, survivor) in rows.items()}


def _zones(customer_ids: Iterable[uuid.UUID]) -> list[tuple[uuid.UUID, str, uuid.UUID | None]]:
    ids = set(customer_ids)
    if not ids:
        return []
    return list(Customer.objects.filter(pk__in=ids).values_list("pk", "timezone", "merged_into_id"))


def callback_requested(callback_id: uuid.UUID | str) -> RecordedEvent | None:
    """The `callback.requested` that made this callback, from the log (None if there was none)."""
    key = (HUB_SOURCE, f"{callback_id}/requested")
    return log.existing([key]).get(key)


def callback_zone(callback: Callback, customer_timezone: str | None) -> str | None:
    """The zone a callback's calling hours are read in: the one its request named, else the customer's
    current profile zone (learnt after the request, or applied by the read model only after it)."""
    return callback.requested_timezone or customer_timezone or None


def _local_time(now: Any, zone: str | None) -> str | None:
    """`now` in the customer's zone; None when it is not known, or is a kept zone tzdata no longer knows (one
    callback must not stop the dispatch of the others)."""
    if not zone:
        return None
    try:
        return now.astimezone(hours_zone(zone)).isoformat()
    except InvalidHours:
        return None


def callback_offer_context(callback: Callback, thread: Thread, now: Any) -> dict[str, Any]:
    """What an agent needs to dial: who, why, what was said on every channel, earlier attempts, local time."""
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
    zone = callback_zone(callback, customer.timezone)
    return {
        "callback_id": callback.pk,
        "phone": callback.phone,
        "reason": callback.reason,
        "attempt": callback.attempt,
        "earlier_attempts": callback.outcomes,
        "window_end": callback.window_end,
        "customer": customer_profile(customer, identifiers),
        "customer_timezone": zone or None,
        "customer_local_time": _local_time(now, zone),
        "thread": thread_brief(thread),
        "recent": recent,
    }
