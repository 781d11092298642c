"""Reads of threads: lists, one thread, its timeline, and the most recent entries of several at once."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from hub.errors import NotFound
from interactions.customers.selectors import customer_get
from interactions.threads.models import Thread, TimelineEntry


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


def thread_list(
    *,
    customer_id: uuid.UUID | None = None,
    status: str | None = None,
    channel: str | None = None,
    agent_id: str | None = None,
) -> QuerySet[Thread]:
    query = Thread.objects.all()
    if agent_id:
        query = query.filter(assigned_agent=agent_id)
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


def customer_threads_recent(
    customer_id: uuid.UUID, open_: int, resolved: int, idle: int = 0
) -> tuple[list[Thread], list[Thread], list[Thread]]:
    """The customer's `open_` most recently active open threads, `idle` most recently active idle ones and
    `resolved` most recently resolved ones (each newest first), in one query written out: the context read's,
    the hub's hottest read, where compiling ORM queries cost as much as running them."""
    table = connection.ops.quote_name(Thread._meta.db_table)
    select = (
        f"SELECT * FROM (SELECT * FROM {table} WHERE customer_id = %s AND status = %s"
        " ORDER BY {} DESC LIMIT %s)"
    )
    parts = [f"{select.format('last_activity_at')} AS o", f"{select.format('resolved_at')} AS r"]
    customer = Thread._meta.get_field("customer").get_db_prep_value(customer_id, connection)
    params = [customer, "open", open_, customer, "resolved", resolved]
    if idle:
        parts.append(f"{select.format('last_activity_at')} AS i")
        params += [customer, "idle", idle]
    rows = list(Thread.objects.raw(" UNION ALL ".join(parts), params))
    newest = lambda status: sorted(  # noqa: E731
        (t for t in rows if t.status == status), key=lambda t: t.last_activity_at, reverse=True
    )
    closed = [t for t in rows if t.status == "resolved" and t.resolved_at is not None]
    return newest("open"), newest("idle"), sorted(closed, key=lambda t: t.resolved_at, reverse=True)


def recent_entries(thread_ids: list, per_thread: int) -> list[TimelineEntry]:
    """Each thread's latest `per_thread` timeline entries, in one query that does not grow with history.

    One LIMIT-ed sub-select per thread, joined by UNION ALL: on both databases each walks the thread's
    (thread, occurred_at, position) index backwards for its few rows, whatever the thread's length. A window
    function would number every entry of every thread first.
    """
    if not thread_ids:
        return []
    table = connection.ops.quote_name(TimelineEntry._meta.db_table)
    thread = TimelineEntry._meta.get_field("thread")
    select = (
        f"SELECT * FROM (SELECT * FROM {table} WHERE thread_id = %s"
        " ORDER BY occurred_at DESC, position DESC LIMIT %s)"
    )
    sql = " UNION ALL ".join(f"{select} AS r{i}" for i in range(len(thread_ids)))
    params: list[Any] = []
    for thread_id in thread_ids:
        params += [thread.get_db_prep_value(thread_id, connection), per_thread]
    return list(TimelineEntry.objects.raw(sql, params))
