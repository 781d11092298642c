"""The threads projection: task threads, the conversation keys seen on them, and their timelines (one entry
per channel event and per step of a callback)."""

from __future__ import annotations

from typing import Any

from hub.backends import backend
from hub.events import RecordedEvent
from hub.rows import RowProjector, UnitOfWork
from interactions.catalogue import (
    ACTIVITY_CALLBACK_TYPES,
    CALLBACK_TYPES,
    FOLLOWUP_TYPES,
    THREADED_TYPES,
    activity_at,
    created_by,
    is_activity,
)
from interactions.threads.models import ConversationRef, Thread, ThreadStatus, TimelineEntry

THREAD_FIELDS = [
    "customer", "topic", "status", "opened_at", "last_activity_at", "resolved_at", "assigned_agent",
    "channels", "event_count", "last_position", "version",
]  # fmt: skip
_TIMELINE_FIELDS = [f.attname for f in TimelineEntry._meta.concrete_fields]
# What an outcome's timeline entry shows of it: its kind, value (the decimal string as sent), currency and the
# integration's reference.
_OUTCOME_DETAILS = ("kind", "value", "currency", "reference")
# Data fields a timeline entry keeps as details, when present.
_DETAIL_FIELDS = (
    "subject_line", "duration_seconds", "disposition", "ivr_path", "queue", "to_agent_id", "to_queue",
    "metric", "score", "conversation_ref", "message_ref", "status", "error_code", "recording_ref",
    "transcription_ref", "automated",
)  # fmt: skip


class ThreadRows(UnitOfWork):
    tables = {"thread": (Thread, THREAD_FIELDS)}
    kept = ("thread",)

    def start_page(self) -> None:
        self.refs: dict[str, str] = {}  # conversation ref -> the first thread it was seen on
        self.timeline: list[tuple] = []  # timeline rows as values (see _timeline_row)

    def write_page(self) -> None:
        ConversationRef.objects.bulk_create(
            [ConversationRef(ref=ref, thread_id=thread_id) for ref, thread_id in self.refs.items()],
            ignore_conflicts=True,  # the first thread a reference was seen on keeps it
        )
        backend().copy_values(TimelineEntry, self.timeline)


def _timeline_row(**values: Any) -> tuple:
    """A timeline row as values in the model's field order: every field must be given. A rebuild writes one
    per event, and a model instance built from keyword arguments cost more than writing it."""
    return tuple(values[name] for name in _TIMELINE_FIELDS)


def apply_thread_opened(rows: ThreadRows, event: RecordedEvent) -> None:
    thread_id = event.data["thread_id"]
    thread = Thread(
        id=thread_id,
        customer_id=event.data["customer_id"],
        topic=event.data.get("topic") or "",
        status=ThreadStatus.OPEN,
        opened_at=event.occurred_at,
        last_activity_at=activity_at(event),
        last_position=event.position,
        version=event.stream_version,
        channels=[],
    )
    rows.add("thread", thread_id, thread)


def _thread_changed(rows: ThreadRows, event: RecordedEvent, **fields: Any) -> None:
    thread = rows.get("thread", event.data["thread_id"])
    for name, value in fields.items():
        setattr(thread, name, value)
    thread.last_position, thread.version = event.position, event.stream_version
    rows.touch("thread", thread.pk)


def apply_thread_assigned(rows: ThreadRows, event: RecordedEvent) -> None:
    _thread_changed(rows, event, assigned_agent=event.data["agent_id"])


def apply_thread_resolved(rows: ThreadRows, event: RecordedEvent) -> None:
    _thread_changed(rows, event, status=ThreadStatus.RESOLVED, resolved_at=event.occurred_at)


def apply_thread_reopened(rows: ThreadRows, event: RecordedEvent) -> None:
    _thread_changed(rows, event, status=ThreadStatus.OPEN, resolved_at=None)


def apply_thread_idled(rows: ThreadRows, event: RecordedEvent) -> None:
    """No activity for the continuation window: the thread is idle (until its next activity), and its
    timeline says so."""
    thread = rows.get("thread", event.data["thread_id"])
    hours = f"{event.data['window_hours']:g} h"
    rows.timeline.append(
        _timeline_row(
            position=event.position,
            thread_id=thread.pk,
            occurred_at=event.occurred_at,
            type=event.type,
            channel="internal",
            direction="",
            text=f"Thread idle: no activity for {hours}",
            agent_id="",
            source=event.source,
            event_id=event.id,
            details={"last_activity_at": event.data.get("last_activity_at")},
        )
    )
    # Only an open thread idles (the task appends it against the thread's version, read while it was open).
    status = ThreadStatus.IDLE if thread.status == ThreadStatus.OPEN else thread.status
    _thread_changed(rows, event, status=status)


def _active(thread: Thread) -> None:
    """Activity on an idle thread makes it open again (placement kept it open all along)."""
    if thread.status == ThreadStatus.IDLE:
        thread.status = ThreadStatus.OPEN


def apply_customer_merged(rows: ThreadRows, event: RecordedEvent) -> None:
    """The merged customer's threads now belong to the survivor. Rare: write the unit, move them with SQL."""
    rows.flush()
    Thread.objects.filter(customer_id=event.data["merged_id"]).update(customer_id=event.data["survivor_id"])


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


def apply_channel_event(rows: ThreadRows, event: RecordedEvent) -> None:
    """A message, call, survey or note: a timeline entry and the thread's activity."""
    thread_id = event.metadata["thread_id"]
    data = event.data
    channel = _channel(event)
    details: dict[str, Any] = {k: data[k] for k in _DETAIL_FIELDS if k in data}
    if event.type == "outcome.recorded":  # a type of its own: no earlier event's entry changes
        details.update({k: data[k] for k in _OUTCOME_DETAILS if k in data})
    if data.get("attachments"):
        details["attachments"] = len(data["attachments"])
    rows.timeline.append(
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
    thread = rows.get("thread", thread_id)
    thread.event_count += 1
    if is_activity(event.type, data):
        thread.last_activity_at = max(thread.last_activity_at, activity_at(event))
        _active(thread)
    thread.last_position, thread.version = event.position, event.stream_version
    if channel not in thread.channels:
        thread.channels = [*thread.channels, channel]
    if not thread.topic and data.get("topic"):
        thread.topic = data["topic"]
    rows.touch("thread", thread_id)
    if data.get("conversation_ref"):
        rows.refs.setdefault(data["conversation_ref"], thread_id)


def _callback_text(event: RecordedEvent) -> str:
    data, kind = event.data, event.type.removeprefix("callback.")
    if kind == "requested":
        return f"Callback requested to {data['phone']}" + (
            f": {data['reason']}" if data.get("reason") else ""
        )
    if kind == "scheduled":
        return f"Callback attempt {data['attempt']} due at {data['due_at']}"
    if kind in ("expired", "cancelled"):
        return f"Callback {kind}: {data['reason']}"
    if kind == "outcome_overdue":
        return (
            f"Callback attempt {data['attempt']}: no outcome from agent {data['agent_id']} "
            f"{data['overdue_minutes']:g} min after it was accepted"
        )
    words = {"offered": "offered to", "accepted": "accepted by", "declined": "declined by"}
    if kind in words:
        return f"Callback attempt {data['attempt']} {words[kind]} agent {data['agent_id']}"
    if kind == "offer_timed_out":
        return f"Callback offer to agent {data['agent_id']} timed out"
    return f"Callback attempt {data['attempt']}: {kind.replace('_', ' ')}" + (
        f" ({data['note']})" if data.get("note") else ""
    )


def apply_callback_step(rows: ThreadRows, event: RecordedEvent) -> None:
    """One step of a callback on its thread's timeline; the request is also activity on the thread."""
    data, kind = event.data, event.type
    thread = rows.get("thread", event.metadata["thread_id"])
    details = {k: v for k, v in data.items() if k in ("callback_id", "attempt", "offer", "due_at", "reason")}
    rows.timeline.append(
        _timeline_row(
            position=event.position,
            thread_id=thread.pk,
            occurred_at=event.occurred_at,
            type=kind,
            channel="callback",
            direction="inbound" if kind == "callback.requested" else "",
            text=_callback_text(event),
            agent_id=data.get("agent_id") or "",
            source=event.source,
            event_id=event.id,
            details=details,
        )
    )
    thread.event_count += 1
    if kind in ACTIVITY_CALLBACK_TYPES:
        thread.last_activity_at = max(thread.last_activity_at, activity_at(event))
        _active(thread)
        if not thread.topic and data.get("topic"):
            thread.topic = data["topic"]
    rows.touch("thread", thread.pk)


def _followup_text(event: RecordedEvent) -> str:
    data, kind = event.data, event.type.removeprefix("followup.")
    if kind == "opened":
        return f"Follow-up opened: {data['reason']}; due {data['due_at']}"
    if kind == "closed":
        late = " (after its SLA)" if data.get("breached") else ""
        note = f": {data['note']}" if data.get("note") else ""
        return f"Follow-up closed{late} by agent {data['agent_id']}, {data['action'].replace('_', ' ')}{note}"
    if kind == "breached":
        return f"Follow-up past its SLA: it was due at {data['due_at']}"
    if kind == "callback_requested":
        return f"Callback requested for the follow-up by agent {data['agent_id']}"
    return f"Follow-up: {kind.replace('_', ' ')}"


def apply_followup_step(rows: ThreadRows, event: RecordedEvent) -> None:
    """One step of a follow-up (the closed loop) on its thread's timeline: what supervisors and agents did
    about a bad rating, beside the rating. It is no activity with the customer."""
    data = event.data
    thread = rows.get("thread", event.metadata["thread_id"])
    details = {
        k: data[k] for k in ("followup_id", "callback_id", "action", "due_at") if data.get(k) is not None
    }
    rows.timeline.append(
        _timeline_row(
            position=event.position,
            thread_id=thread.pk,
            occurred_at=event.occurred_at,
            type=event.type,
            channel="internal",
            direction="",
            text=_followup_text(event),
            agent_id=data.get("agent_id") or "",
            source=event.source,
            event_id=event.id,
            details=details,
        )
    )
    thread.event_count += 1
    rows.touch("thread", thread.pk)


class ThreadsProjector(RowProjector):
    name = "threads"
    # 2: only activity moves last_activity_at, as placement's (2026-12-05). 3: thread.idled makes a thread
    # idle (and an entry on its timeline), its next activity open again (2026-12-06). 4: follow-up steps on
    # the timeline (2026-12-06).
    version = 4
    unit = ThreadRows
    handlers = {
        "thread.opened": apply_thread_opened,
        "thread.assigned": apply_thread_assigned,
        "thread.resolved": apply_thread_resolved,
        "thread.reopened": apply_thread_reopened,
        "thread.idled": apply_thread_idled,
        "customer.merged": apply_customer_merged,
        **dict.fromkeys(THREADED_TYPES - CALLBACK_TYPES, apply_channel_event),
        **dict.fromkeys(CALLBACK_TYPES, apply_callback_step),
        **dict.fromkeys(FOLLOWUP_TYPES, apply_followup_step),
    }
    tables = (TimelineEntry, ConversationRef, Thread)

    def prefetch(self, unit: UnitOfWork, events: list[RecordedEvent]) -> None:
        thread_ids = {
            str(source["thread_id"])
            for event in events
            for source in (event.metadata, event.data)
            if source.get("thread_id")
        }
        unit.load("thread", thread_ids - created_by(events)[1])
