"""The event catalogue: every type the hub accepts, its data schema per version, and every named set of types.

A set of types that more than one module reasons about (inbound contacts, contacts per channel, the steps of
a callback) is declared here once, next to the types themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from pydantic import BaseModel, ValidationError

from hub.events import NewEvent, RecordedEvent
from interactions.catalogue.schemas import (
    AgentStatusChangedData,
    CallbackAnswerData,
    CallbackEndedData,
    CallbackOfferedData,
    CallbackOutcomeData,
    CallbackOutcomeOverdueData,
    CallbackRequestedData,
    CallbackScheduledData,
    CallEndedData,
    CallRecordedData,
    CallStartedData,
    CallTranscribedData,
    CallTransferredData,
    CustomerCreatedData,
    CustomerIdentifiedData,
    CustomerMergedData,
    FollowupBreachedData,
    FollowupCallbackData,
    FollowupClosedData,
    FollowupOpenedData,
    MessageReceivedData,
    MessageSentData,
    MessageStatusData,
    NbaOutcomeData,
    NoteAddedData,
    OutcomeRecordedData,
    ProfileUpdatedData,
    SurveyAnsweredData,
    ThreadAssignedData,
    ThreadIdledData,
    ThreadOpenedData,
    ThreadStateData,
)


class ThreadStatus(models.TextChoices):
    """Where a thread stands: thread.opened and thread.reopened open it, thread.resolved resolves it, and
    thread.idled marks an open thread that had no activity for the continuation window (the threads read
    model's status; placement's write model keeps such a thread open, with `idled_at`, so that idling changes
    no placement decision)."""

    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"
    IDLE = "idle", "Idle (open, but no activity for the continuation window)"


# The hub's own events (placement, commands, callbacks) come from this source; nobody else may post as it.
HUB_SOURCE = "/threadline"


@dataclass(frozen=True)
class EventType:
    name: str
    version: int
    schema: type[BaseModel]
    description: str
    internal: bool = False  # appended by the hub itself, never accepted from integrations
    threaded: bool = False  # a channel event that belongs to a task thread


_CHANNEL = {"threaded": True}
_HUB = {"internal": True}
_TYPES = [
    EventType(
        "message.received",
        1,
        MessageReceivedData,
        "A customer's message (chat, email, SMS, social).",
        **_CHANNEL,
    ),
    EventType(
        "message.sent", 1, MessageSentData, "A message sent to the customer by an agent or a bot.", **_CHANNEL
    ),
    EventType(
        "message.status",
        1,
        MessageStatusData,
        "What became of a message sent to the customer (queued, sent, delivered, undelivered, failed, read).",
        **_CHANNEL,
    ),
    EventType("call.started", 1, CallStartedData, "A voice call began (inbound or outbound).", **_CHANNEL),
    EventType(
        "call.ended", 1, CallEndedData, "A voice call ended, with its duration and disposition.", **_CHANNEL
    ),
    EventType(
        "call.transferred",
        1,
        CallTransferredData,
        "A voice call moved to another agent or queue.",
        **_CHANNEL,
    ),
    EventType(
        "call.recorded",
        1,
        CallRecordedData,
        "A call's recording is ready or failed: its id and length (the audio stays with the provider).",
        **_CHANNEL,
    ),
    EventType(
        "call.transcribed",
        1,
        CallTranscribedData,
        "The transcript of a call's recording (card numbers masked), or its failure.",
        **_CHANNEL,
    ),
    EventType(
        "survey.answered", 1, SurveyAnsweredData, "A CSAT (1-5), NPS (0-10) or CES (1-7) answer.", **_CHANNEL
    ),
    EventType(
        "outcome.recorded",
        1,
        OutcomeRecordedData,
        "What a contact achieved: a sale, upgrade, retention, cancellation or refund, with its value and "
        "currency.",
        **_CHANNEL,
    ),
    EventType("note.added", 1, NoteAddedData, "An internal note about the customer or thread.", **_CHANNEL),
    EventType(
        "customer.profile_updated", 1, ProfileUpdatedData, "Profile fields of the customer (from a CRM)."
    ),
    EventType("customer.created", 1, CustomerCreatedData, "The hub met a new customer.", **_HUB),
    EventType(
        "customer.identified", 1, CustomerIdentifiedData, "An identifier was linked to a customer.", **_HUB
    ),
    EventType("customer.merged", 1, CustomerMergedData, "Two customers turned out to be one.", **_HUB),
    EventType("thread.opened", 1, ThreadOpenedData, "A new task thread (one customer objective).", **_HUB),
    EventType("thread.assigned", 1, ThreadAssignedData, "A thread was assigned to an agent.", **_HUB),
    EventType("thread.resolved", 1, ThreadStateData, "A thread was resolved.", **_HUB),
    EventType("thread.reopened", 1, ThreadStateData, "A resolved thread was reopened.", **_HUB),
    EventType(
        "thread.idled",
        1,
        ThreadIdledData,
        "An open thread had no activity for the continuation window; the hub marks it idle (it decides no "
        "placement: a later contact is placed as it would have been without it).",
        **_HUB,
    ),
    EventType(
        "agent.status_changed",
        1,
        AgentStatusChangedData,
        "An agent became available, busy or offline.",
        **_HUB,
    ),
    EventType(
        "nba.taken", 1, NbaOutcomeData, "An agent took up a next best action the context recommended.", **_HUB
    ),
    EventType(
        "nba.dismissed",
        1,
        NbaOutcomeData,
        "An agent dismissed a next best action the context recommended.",
        **_HUB,
    ),
    # Callbacks: every step of a callback's life, on its `callback-<id>` stream and its thread's timeline.
    EventType(
        "callback.requested",
        1,
        CallbackRequestedData,
        "A customer asked to be called back (POST /api/v1/callbacks); placed on a thread like a contact.",
        internal=True,
        threaded=True,
    ),
    EventType("callback.scheduled", 1, CallbackScheduledData, "A callback attempt is due at due_at.", **_HUB),
    EventType(
        "callback.offered",
        1,
        CallbackOfferedData,
        "A callback was offered to one agent, with the whole context to call with.",
        **_HUB,
    ),
    EventType("callback.accepted", 1, CallbackAnswerData, "The agent took the offer and is calling.", **_HUB),
    EventType("callback.declined", 1, CallbackAnswerData, "The agent declined; it goes to another.", **_HUB),
    EventType(
        "callback.offer_timed_out",
        1,
        CallbackAnswerData,
        "The agent did not answer the offer in time; it goes to another.",
        **_HUB,
    ),
    EventType("callback.completed", 1, CallbackOutcomeData, "The customer was called back.", **_HUB),
    EventType("callback.no_answer", 1, CallbackOutcomeData, "Nobody answered; retried later.", **_HUB),
    EventType("callback.busy", 1, CallbackOutcomeData, "The line was busy; retried later.", **_HUB),
    EventType("callback.failed", 1, CallbackOutcomeData, "The call failed; retried later.", **_HUB),
    EventType(
        "callback.outcome_overdue",
        1,
        CallbackOutcomeOverdueData,
        "An accepted callback call has had no outcome for THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES: "
        "supervisors are told (it still expires later if nobody reports one).",
        **_HUB,
    ),
    EventType(
        "callback.expired",
        1,
        CallbackEndedData,
        "The callback's window ended, or its attempts ran out, before anyone got through.",
        **_HUB,
    ),
    EventType(
        "callback.cancelled", 1, CallbackEndedData, "The callback was cancelled; it never fires.", **_HUB
    ),
    # Follow-ups (the closed loop): on their own `followup-<id>` stream, placed on the survey's thread.
    EventType(
        "followup.opened",
        1,
        FollowupOpenedData,
        "A bad survey answer (the follow-up rule) opened a follow-up, due within the SLA; appended with it.",
        **_HUB,
    ),
    EventType(
        "followup.closed",
        1,
        FollowupClosedData,
        "A person closed a follow-up with what was done (POST /api/v1/followups/{id}/close).",
        **_HUB,
    ),
    EventType(
        "followup.breached",
        1,
        FollowupBreachedData,
        "An open follow-up passed its SLA (recorded once, by the follow-up SLA task).",
        **_HUB,
    ),
    EventType(
        "followup.callback_requested",
        1,
        FollowupCallbackData,
        "A callback to the customer was requested for a follow-up (POST /api/v1/followups/{id}/callback).",
        **_HUB,
    ),
]
CATALOGUE: dict[str, dict[int, EventType]] = {}
for _t in _TYPES:
    CATALOGUE.setdefault(_t.name, {})[_t.version] = _t


# --- Named sets of types ------------------------------------------------------------------------------

# Channel events that belong to a task thread (placed on one, shown on its timeline).
THREADED_TYPES = frozenset(t.name for t in _TYPES if t.threaded)
# Appended by the hub itself, never accepted from integrations.
INTERNAL_TYPES = frozenset(t.name for t in _TYPES if t.internal)
# Every step of a callback's life, on its `callback-<id>` stream.
CALLBACK_TYPES = frozenset(t.name for t in _TYPES if t.name.startswith("callback."))
# How an accepted callback's call went; anything but completed is retried.
CALLBACK_OUTCOME_TYPES = frozenset(
    {"callback.completed", "callback.no_answer", "callback.busy", "callback.failed"}
)
# Callback steps that only say an agent was asked: they do not make that agent the thread's last handler.
# A cancellation names the agent its offer was with (so it reaches them), who never answered it.
CALLBACK_ASKING_TYPES = frozenset(
    {
        "callback.offered",
        "callback.declined",
        "callback.offer_timed_out",
        "callback.scheduled",
        "callback.cancelled",
    }
)
# Every step of a follow-up's life, on its `followup-<id>` stream; supervisors hear of them on `followups`.
FOLLOWUP_TYPES = frozenset(t.name for t in _TYPES if t.name.startswith("followup."))
# Contacts by the customer: they reopen a resolved thread they continue (and so do inbound calls), unless
# a machine wrote them (see `automated`).
INBOUND_TYPES = frozenset({"message.received", "callback.requested"})
# Events that count as a contact with the customer, per channel, unless a machine wrote them.
CONTACT_TYPES = frozenset({"message.received", "message.sent", "call.started"})
# An agent's answer to a next best action (its take-up is counted per rule).
NBA_TYPES = frozenset({"nba.taken", "nba.dismissed"})
# Events about an earlier message or call (named by `message_ref` or `conversation_ref`): they join its thread
# even long after it was resolved, reopen nothing and are no contact; the customer did not write them.
FOLLOWING_TYPES = frozenset({"message.status", "call.recorded", "call.transcribed"})
# The steps of a callback that are activity on its thread (the continuation window runs from them): the
# customer asking, and a call that reached them.
ACTIVITY_CALLBACK_TYPES = frozenset({"callback.requested", "callback.completed"})
# Activity on a thread, what its continuation window runs from and its lists are ordered by (README: "a
# message, a call, a callback request or a completed callback call"). Not what follows a message or a call
# (a status, a read receipt, a recording), nor an agent's internal note, a survey answer, or a message a
# machine wrote: a late bounce or read receipt revived a thread resolved weeks before, so that the customer's
# next reply reopened it, and a note kept a thread catching the customer's unrelated new contacts.
ACTIVITY_TYPES = frozenset(
    {"message.received", "message.sent", "call.started", "call.ended", "call.transferred"}
)


def is_activity(event_type: str, data: dict[str, Any]) -> bool:
    """Does an event of this type, with this data, count as activity on its thread (see ACTIVITY_TYPES)?"""
    return event_type in ACTIVITY_CALLBACK_TYPES or (event_type in ACTIVITY_TYPES and not automated(data))


def activity_at(event: RecordedEvent) -> datetime:
    """When a recorded event counts as activity: when it happened, but never later than when the hub
    received it. A message stamped next year by a sender's wrong clock kept its thread collecting every new
    contact for a year, and a START outranked today's STOP. (`recorded_at` is in the log: a rebuild decides
    the same.)"""
    return min(event.occurred_at, event.recorded_at)


def automated(data: dict[str, Any]) -> bool:
    """Did a machine write this message (an auto-reply, a bounce, a read receipt: `data.automated`)? Then it
    is recorded on its thread like any message, but it is not the customer writing: it reopens nothing and is
    no contact."""
    return bool(data.get("automated"))


# Events that concern one agent by their `agent_id` (besides every callback step): assignments, presence.
AGENT_TYPES = frozenset({"thread.assigned", "agent.status_changed"})


def identifiers_recorded(events: Iterable[RecordedEvent]) -> set[str]:
    """The identifiers these events give a customer (`customer.created`'s and `customer.identified`'s): what
    a projector of identifiers loads for a page of them in one query."""
    uris: set[str] = set()
    for event in events:
        if event.type == "customer.created":
            uris.update(event.data["identifiers"])
        elif event.type == "customer.identified":
            uris.add(event.data["identifier"])
    return uris


def created_by(events: Iterable[RecordedEvent]) -> tuple[set[str], set[str]]:
    """(customer ids, thread ids) that `customer.created` and `thread.opened` among these events create: rows
    a projector adds, not loads (it applies the creation before any later event of the page uses them)."""
    customers: set[str] = set()
    threads: set[str] = set()
    for event in events:
        if event.type == "customer.created":
            customers.add(str(event.data["customer_id"]))
        elif event.type == "thread.opened":
            threads.add(str(event.data["thread_id"]))
    return customers, threads


def current_version(event_type: str) -> int:
    return max(CATALOGUE[event_type])


def validate_data(event_type: str, version: int, data: Any) -> list[dict[str, str]]:
    """Check `data` against the schema of `event_type` at `version`; return field errors (empty if valid)."""
    schema = CATALOGUE[event_type][version].schema
    if not isinstance(data, dict):
        return [{"field": "data", "message": "data must be a JSON object"}]
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        return [
            {"field": ".".join(["data", *(str(p) for p in err["loc"])]), "message": err["msg"]}
            for err in exc.errors(include_url=False)
        ]
    return []


def describe() -> list[dict[str, Any]]:
    """Every type and version with its JSON Schema, for integrators."""
    return [
        {
            "type": t.name,
            "version": t.version,
            "current": t.version == current_version(t.name),
            "internal": t.internal,
            "description": t.description,
            "data_schema": t.schema.model_json_schema(),
        }
        for t in _TYPES
    ]


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
