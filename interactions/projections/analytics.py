"""The experience measures' projection (the `analytics` subscription): survey answers, handling, effort and
outcomes counted per hour and dimension, each customer's lifetime value, and what it needs to know of
customers and threads to group them.

Every row is a function of the log up to the event: an answer is grouped by the customer's segment and the
thread's topic and agent as the log stood when the answer arrived, so a rebuild makes the same rows
(`tests/interactions/analytics` checks it).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from hub.events import RecordedEvent
from hub.rows import RowProjector, UnitOfWork
from interactions.analytics.measures import effort_index
from interactions.analytics.models import (
    CALLBACK_OUTCOMES,
    EFFORT_COUNTS,
    HANDLING_COUNTS,
    OUTCOME_COUNTS,
    ROLLUP_DIMENSIONS,
    SCORES,
    STEP_COUNTS,
    TRANSITION_COUNTS,
    CallbackHour,
    CustomerFacts,
    CustomerTopic,
    CustomerValue,
    EffortHour,
    HandlingHour,
    OutcomeHour,
    StepHour,
    SurveyRollup,
    ThreadFacts,
    TopicFacts,
    TransitionHour,
)
from interactions.catalogue import activity_at, automated
from interactions.catalogue.currencies import to_units
from interactions.projections import journeys
from interactions.projections.counting import add_to, hour_of, row_key

THREAD_FIELDS = [
    "topic", "agent_id", "channel", "customer_id", "opened_at", "first_inbound_at", "first_response_at",
    "first_assigned_at", "resolved_once", "contacts", "switches", "transfers", "last_contact_channel", "ces",
    "effort_index", "effort_key", "first_resolved_at", "fcr", "resolved", "step", "step_at", "waiting_since",
    "waiting_step", "answered_at", "self_service_at", "self_service_step", "pending_callbacks",
]  # fmt: skip
# Events on a thread that count for no measure but may give the thread its topic.
TOPIC_ONLY_TYPES = ("note.added", "message.status", "call.recorded", "call.transcribed", "callback.requested")
# Events that count only for the customer's journey (interactions/projections/journeys.py).
JOURNEY_ONLY_TYPES = ("thread.idled", "callback.expired", "callback.cancelled")
# What an agent reported of a callback call: counted per attempt.
CALLBACK_OUTCOME_TYPES = {f"callback.{outcome}": outcome for outcome in CALLBACK_OUTCOMES}
MERGE_DEPTH = 64  # a chain of merges is followed this far (placement merges into the survivor of a survivor)


class AnalyticsRows(UnitOfWork):
    tables = {
        "customer": (CustomerFacts, ["segment", "merged_into", "currencies"]),
        "thread": (ThreadFacts, THREAD_FIELDS),
        "handling": (HandlingHour, HANDLING_COUNTS),
        "effort": (EffortHour, EFFORT_COUNTS),
        "topic": (TopicFacts, ["thread_id"]),
        "steps": (StepHour, STEP_COUNTS),
        "transitions": (TransitionHour, TRANSITION_COUNTS),
        "customer_topic": (CustomerTopic, ["thread_id", "last_contact_at"]),
        "callbacks": (CallbackHour, CALLBACK_OUTCOMES),
        "outcome": (OutcomeHour, OUTCOME_COUNTS),
        "value": (CustomerValue, ["value", "outcomes"]),
        "rollup": (SurveyRollup, SCORES),
    }
    kept = tuple(tables)

    def facts(self, kind: str, key: Any, model: type, **fields: Any) -> Any:
        """The row of `key`, added blank when the projection has not seen it (an event placed before this
        projection existed is still counted; its dimensions are blank)."""
        key = str(uuid.UUID(str(key))) if kind in ("customer", "thread") else key  # one spelling of an id
        self.load(kind, [key])
        row = self.rows[kind].get(key)
        if row is None:
            row = model(pk=key, **fields)
            self.add(kind, key, row)
        return row

    def customer(self, customer_id: Any) -> CustomerFacts:
        row = self.facts("customer", customer_id, CustomerFacts)
        for _ in range(MERGE_DEPTH):
            if row.merged_into is None:
                break
            row = self.facts("customer", row.merged_into, CustomerFacts)
        return row


def apply_customer_merged(rows: AnalyticsRows, event: RecordedEvent) -> None:
    merged = rows.facts("customer", event.data["merged_id"], CustomerFacts)
    survivor = rows.customer(event.data["survivor_id"])
    if not survivor.segment and merged.segment:
        survivor.segment = merged.segment  # as the customers read model: the survivor's own wins
        rows.touch("customer", survivor.pk)
    merged.merged_into = survivor.pk
    rows.touch("customer", merged.pk)
    _move_value(rows, merged, survivor)


def apply_profile_updated(rows: AnalyticsRows, event: RecordedEvent) -> None:
    segment = event.data.get("segment")
    if segment is None or not event.metadata.get("customer_id"):
        return
    customer = rows.customer(event.metadata["customer_id"])
    customer.segment = segment
    rows.touch("customer", customer.pk)


def apply_thread_opened(rows: AnalyticsRows, event: RecordedEvent) -> None:
    thread = rows.facts("thread", event.data["thread_id"], ThreadFacts)
    thread.topic = event.data.get("topic") or ""
    thread.customer_id = event.data["customer_id"]
    thread.opened_at = activity_at(event)
    rows.touch("thread", thread.pk)


def apply_thread_assigned(rows: AnalyticsRows, event: RecordedEvent) -> None:
    thread = rows.facts("thread", event.data["thread_id"], ThreadFacts)
    thread.agent_id = str(event.data["agent_id"])
    thread.first_assigned_at = thread.first_assigned_at or activity_at(event)
    rows.touch("thread", thread.pk)


def dimensions(rows: AnalyticsRows, event: RecordedEvent, channel: str) -> dict[str, Any]:
    """An event's channel, agent, topic and segment (blank where not known): the event's own agent and topic,
    else its thread's; the segment of its customer (or the survivor they were merged into)."""
    data, meta = event.data, event.metadata
    thread = _thread(rows, event)
    customer_id = meta.get("customer_id") or (thread.customer_id if thread else None)
    customer = rows.customer(customer_id) if customer_id else None
    return {
        "channel": channel,
        "agent_id": str(data.get("agent_id") or (thread.agent_id if thread else "")),
        "topic": data.get("topic") or (thread.topic if thread else ""),
        "segment": customer.segment if customer else "",
    }


def count_handling(
    rows: AnalyticsRows,
    event: RecordedEvent,
    at: datetime,
    channel: str,
    kind: str = "handling",
    **counts: int,
) -> str:
    """Add `counts` to the `kind` row (handling, effort) of `at`'s hour and the event's dimensions."""
    fields = {"hour": hour_of(at), **dimensions(rows, event, channel)}
    key = row_key(fields)
    add_to(rows, kind, key, fields, counts)
    return key


def _contact(rows: AnalyticsRows, thread: ThreadFacts, channel: str, at: datetime) -> None:
    """The customer got in touch on `channel`: a contact, and a switch when their previous one was elsewhere
    (until the thread's first resolution: its effort is taken then). Their first contact on a thread with a
    topic brings them back about that objective: their last thread on it was not resolved for good (a thread
    the hub opened for something else, such as their rating of a resolved one, takes nothing back)."""
    if thread.resolved_once:
        return
    thread.contacts += 1
    if thread.last_contact_channel and thread.last_contact_channel != channel:
        thread.switches += 1
    thread.last_contact_channel = channel
    if thread.contacts == 1 and thread.topic:
        earlier = _load_topic(rows, thread)
        if earlier is not None and str(earlier.thread_id) != str(thread.pk):
            _revoke_fcr(rows, rows.facts("thread", earlier.thread_id, ThreadFacts), at)


def _first_contact(thread: ThreadFacts) -> bool:
    return thread.contacts == 0 and not thread.resolved_once


def _came_back(
    rows: AnalyticsRows, event: RecordedEvent, thread: ThreadFacts, at: datetime, first: bool
) -> None:
    """The customer got in touch on a thread about a topic: when it is the thread's first contact and their
    last contact about that topic was on another thread within THREADLINE_FCR_DAYS, they came back about it
    (a repeat contact, counted in this hour). Their last contact about the topic is this one, from now on."""
    if not thread.topic or not thread.customer_id:
        return
    key = _topic_key(rows, thread)
    rows.load("customer_topic", [key])
    last = rows.rows["customer_topic"].get(key)
    if last is None:
        last = rows.facts("customer_topic", key, CustomerTopic, thread_id=thread.pk, last_contact_at=at)
    elif (
        first
        and str(last.thread_id) != str(thread.pk)
        and timedelta(0) <= at - last.last_contact_at <= timedelta(days=settings.THREADLINE_FCR_DAYS)
    ):
        count_handling(rows, event, at, event.data.get("channel") or "voice", repeat_contacts=1)
    if at >= last.last_contact_at:
        last.thread_id, last.last_contact_at = thread.pk, at
        rows.touch("customer_topic", key)


def apply_callback_outcome(rows: AnalyticsRows, event: RecordedEvent) -> None:
    """An agent's report of a callback call: counted by its attempt, for the agent who called."""
    _thread(rows, event)
    fields = {
        "hour": hour_of(activity_at(event)),
        **dimensions(rows, event, "voice"),
        "attempt": event.data["attempt"],
    }
    add_to(rows, "callbacks", row_key(fields), fields, {CALLBACK_OUTCOME_TYPES[event.type]: 1})


def _thread(rows: AnalyticsRows, event: RecordedEvent) -> ThreadFacts | None:
    """The event's thread: where placement put it, or the one a hub event is about. A thread opened with no
    topic takes the first one an event on it gives (as the threads read model does)."""
    thread_id = event.metadata.get("thread_id")
    if not thread_id and event.type.startswith("thread."):  # the hub's own, its data checked
        thread_id = event.data["thread_id"]
    if not thread_id:
        return None
    thread = rows.facts("thread", thread_id, ThreadFacts)
    if not thread.topic and event.data.get("topic") and not event.type.startswith("thread."):
        thread.topic = event.data["topic"]
        rows.touch("thread", thread.pk)
    return thread


def apply_topic(rows: AnalyticsRows, event: RecordedEvent) -> None:
    """An event on a thread that counts for no measure may still give the thread its topic."""
    _thread(rows, event)


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds()))


def apply_message(rows: AnalyticsRows, event: RecordedEvent) -> None:
    """A customer's message starts the clock of the thread's first response; an agent's or a bot's message
    after it stops it (an automatic reply, a bounce or a read receipt does neither)."""
    thread = _thread(rows, event)
    if thread is None or automated(event.data):
        return
    at = activity_at(event)
    thread.channel = thread.channel or event.data["channel"]
    if event.type == "message.received":
        if not thread.first_response_at:  # the customer's first message: the earliest given, until answered
            thread.first_inbound_at = min(thread.first_inbound_at or at, at)
        _came_back(rows, event, thread, at, first=_first_contact(thread))
        _contact(rows, thread, event.data["channel"], at)
    elif thread.first_inbound_at and not thread.first_response_at and at >= thread.first_inbound_at:
        thread.first_response_at = at
        waited = _seconds(thread.first_inbound_at, at)
        count_handling(rows, event, at, thread.channel, first_responses=1, first_response_seconds=waited)
    rows.touch("thread", thread.pk)


def apply_call(rows: AnalyticsRows, event: RecordedEvent) -> None:
    """A call: its end counts a call and its length, a transfer counts a transfer. It starts no first-response
    clock: the log says when a call began, not how long the customer waited before someone answered."""
    thread = _thread(rows, event)
    at = activity_at(event)
    if thread is not None:
        thread.channel = thread.channel or "voice"
        if event.type == "call.started" and event.data.get("direction") == "inbound":
            _came_back(rows, event, thread, at, first=_first_contact(thread))
            _contact(rows, thread, "voice", at)
        elif event.type == "call.transferred" and not thread.resolved_once:
            thread.transfers += 1
        rows.touch("thread", thread.pk)
    if event.type == "call.ended":
        count_handling(rows, event, at, "voice", calls=1, call_seconds=event.data["duration_seconds"])
    elif event.type == "call.transferred":
        count_handling(rows, event, at, "voice", transfers=1)


def apply_thread_resolved(rows: AnalyticsRows, event: RecordedEvent) -> None:
    """A thread's first resolution: its time to resolution (from its opening), and for a digital thread its
    handling time (from its first assignment). A later resolution, after a reopening, counts neither."""
    thread = _thread(rows, event)
    if thread is not None:
        thread.resolved = True
        rows.touch("thread", thread.pk)
    if thread is None or thread.resolved_once:
        return
    at = activity_at(event)
    counts = {"resolutions": 1}
    if thread.opened_at:
        counts["resolution_seconds"] = _seconds(thread.opened_at, at)
    if thread.channel and thread.channel != "voice" and thread.first_assigned_at:
        counts.update(handled=1, handle_seconds=_seconds(thread.first_assigned_at, at))
    thread.resolved_once = True
    as_thread = _as_thread_event(event, thread)
    count_handling(rows, as_thread, at, thread.channel, **counts)
    _take_effort(rows, as_thread, thread, at)
    rows.touch("thread", thread.pk)


def _take_effort(rows: AnalyticsRows, event: RecordedEvent, thread: ThreadFacts, at: datetime) -> None:
    """A thread's effort, taken at its first resolution: its index, counted in that hour's effort row, with
    its CES if its customer answered one on it already."""
    answered = thread.first_response_at or at
    wait = _seconds(thread.first_inbound_at, answered) if thread.first_inbound_at else 0
    index = effort_index(
        contacts=thread.contacts, switches=thread.switches, transfers=thread.transfers, wait_seconds=wait
    )
    counts = {
        "threads": 1,
        "contacts": thread.contacts,
        "switches": thread.switches,
        "transfers": thread.transfers,
        "repeats": max(0, thread.contacts - 1),
        "index_sum": index,
    }
    thread.effort_index = index
    thread.effort_key = count_handling(rows, event, at, thread.channel, kind="effort", **counts)
    if thread.ces is not None:
        _pair(rows, thread)
    _count_fcr(rows, thread, at)  # the handling row of the resolution has the same key as its effort row


def _pair(rows: AnalyticsRows, thread: ThreadFacts) -> None:
    """Add the thread's (effort index, CES) pair to the effort row it was counted in."""
    x, y = thread.effort_index, 8 - thread.ces
    pair = {
        "pairs": 1,
        "pair_index_sum": x,
        "pair_ces_sum": y,
        "sum_xx": x * x,
        "sum_yy": y * y,
        "sum_xy": x * y,
    }
    add_to(rows, "effort", thread.effort_key, {}, pair)


def apply_thread_reopened(rows: AnalyticsRows, event: RecordedEvent) -> None:
    """A resolved thread reopened: a reopen, and its first-contact resolution taken back. (An idle thread,
    never resolved, may be reopened too: that is no reopen.)"""
    thread = _thread(rows, event)
    if thread is None or not thread.resolved:
        return
    thread.resolved = False
    rows.touch("thread", thread.pk)
    count_handling(rows, _as_thread_event(event, thread), activity_at(event), thread.channel, reopens=1)
    _revoke_fcr(rows, thread, activity_at(event))


def _topic_key(rows: AnalyticsRows, thread: ThreadFacts) -> str:
    customer = rows.customer(thread.customer_id).pk if thread.customer_id else ""
    return row_key({"customer": str(customer), "topic": thread.topic})


def _load_topic(rows: AnalyticsRows, thread: ThreadFacts) -> TopicFacts | None:
    key = _topic_key(rows, thread)
    rows.load("topic", [key])
    return rows.rows["topic"].get(key)


def _count_fcr(rows: AnalyticsRows, thread: ThreadFacts, at: datetime) -> None:
    """A thread first resolved after exactly one contact from the customer counts as resolved at first
    contact, in its resolution's handling row, until something revokes it."""
    thread.first_resolved_at = at
    if thread.contacts != 1:
        return
    thread.fcr = True
    add_to(rows, "handling", thread.effort_key, {}, {"fcr": 1})
    if thread.topic:
        key = _topic_key(rows, thread)
        row = rows.facts("topic", key, TopicFacts, thread_id=thread.pk)
        row.thread_id = thread.pk
        rows.touch("topic", key)


def _revoke_fcr(rows: AnalyticsRows, thread: ThreadFacts, at: datetime) -> None:
    """Reopened, or followed by another thread on its topic, within THREADLINE_FCR_DAYS of its first
    resolution: it was not resolved at first contact after all."""
    if not thread.fcr or at - thread.first_resolved_at > timedelta(days=settings.THREADLINE_FCR_DAYS):
        return
    thread.fcr = False
    add_to(rows, "handling", thread.effort_key, {}, {"fcr": -1})
    rows.touch("thread", thread.pk)


def _as_thread_event(event: RecordedEvent, thread: ThreadFacts | None) -> RecordedEvent:
    """A resolution or reopening counted for the thread's agent (the one it is assigned to), not for whoever
    pressed the button (`data.agent_id` of these events is the actor)."""
    data = {k: v for k, v in event.data.items() if k != "agent_id"}
    return dataclasses.replace(event, data=data)


def apply_survey_answered(rows: AnalyticsRows, event: RecordedEvent) -> None:
    thread = _thread(rows, event)
    if event.data["metric"] == "ces" and thread is not None and thread.ces is None:
        thread.ces = event.data["score"]  # the first CES given on the thread is the one set beside its effort
        if thread.effort_key:
            _pair(rows, thread)
        rows.touch("thread", thread.pk)
    fields = {
        "hour": hour_of(activity_at(event)),
        "metric": event.data["metric"],
        "score": event.data["score"],
        **dimensions(rows, event, event.data["channel"]),
    }
    _roll_up(rows, fields)


def _roll_up(rows: AnalyticsRows, answer: dict[str, Any]) -> None:
    """Count an answer in the rollups of its hour and its UTC day: once over all answers and once per
    dimension, a column per score (ten rows, looked up in one query)."""
    day = answer["hour"].replace(hour=0)
    rollups = {}
    for period, start in (("hour", answer["hour"]), ("day", day)):
        for dimension in ROLLUP_DIMENSIONS:
            fields = {
                "period": period,
                "start": start,
                "metric": answer["metric"],
                "dimension": dimension,
                "value": answer[dimension] if dimension else "",
            }
            rollups[row_key(fields)] = fields
    rows.load("rollup", rollups)
    score = f"score_{answer['score']}"
    for key, fields in rollups.items():
        add_to(rows, "rollup", key, fields, {score: 1})


def _and_journey(handler):
    """`handler`, then the journey part of the same event (interactions/projections/journeys.py)."""

    def apply(rows: AnalyticsRows, event: RecordedEvent) -> None:
        handler(rows, event)
        journeys.apply(rows, event, _thread(rows, event))

    return apply


# What an outcome of each kind adds to its customer's lifetime value (README "Outcomes"): what they paid or
# committed to (a sale, an upgrade, a contract kept by a retention), less what was paid back (a refund). A
# cancellation ends future business but takes back nothing paid: it counts in net new business, not here.
LIFETIME_SIGN = {"sale": 1, "upgrade": 1, "retention": 1, "cancellation": 0, "refund": -1}
# kind -> the OutcomeHour columns of its count and its value
OUTCOME_COLUMNS = {
    "sale": ("sales", "sale_value"),
    "upgrade": ("upgrades", "upgrade_value"),
    "retention": ("retentions", "retention_value"),
    "cancellation": ("cancellations", "cancellation_value"),
    "refund": ("refunds", "refund_value"),
}


def _value_row(rows: AnalyticsRows, customer: CustomerFacts, currency: str) -> CustomerValue:
    """The customer's lifetime value row in `currency`, added (and its currency noted) when they have none."""
    key = f"{customer.pk}/{currency}"
    row = rows.facts("value", key, CustomerValue, customer_id=customer.pk, currency=currency)
    held = customer.currencies.split()
    if currency not in held:
        customer.currencies = " ".join(sorted([*held, currency]))
        rows.touch("customer", customer.pk)
    return row


def _move_value(rows: AnalyticsRows, merged: CustomerFacts, survivor: CustomerFacts) -> None:
    """A merged customer's lifetime value is the survivor's now: each currency's sum and count move over, and
    the merged customer's rows are left at zero."""
    for currency in merged.currencies.split():
        theirs = _value_row(rows, merged, currency)
        ours = _value_row(rows, survivor, currency)
        ours.value += theirs.value
        ours.outcomes += theirs.outcomes
        theirs.value = theirs.outcomes = 0
        rows.touch("value", ours.pk)
        rows.touch("value", theirs.pk)
    merged.currencies = ""
    rows.touch("customer", merged.pk)


def apply_outcome_recorded(rows: AnalyticsRows, event: RecordedEvent) -> None:
    """An outcome: counted, with its value, in its hour's row for its dimensions and currency; and added to
    (or, for a refund, taken from) its customer's lifetime value in that currency. Its channel is its own,
    else its thread's (the channel of the thread's first message or call), else blank."""
    data = event.data
    thread = _thread(rows, event)
    channel = data.get("channel") or (thread.channel if thread else "")
    units = to_units(data["value"])
    fields = {
        "hour": hour_of(activity_at(event)),
        **dimensions(rows, event, channel),
        "currency": data["currency"],
    }
    count, value = OUTCOME_COLUMNS[data["kind"]]
    add_to(rows, "outcome", row_key(fields), fields, {count: 1, value: units})
    customer_id = event.metadata.get("customer_id") or (thread.customer_id if thread else None)
    if customer_id:
        customer = rows.customer(customer_id)
        row = _value_row(rows, customer, data["currency"])
        row.value += LIFETIME_SIGN[data["kind"]] * units
        row.outcomes += 1
        rows.touch("value", row.pk)


class AnalyticsProjector(RowProjector):
    name = "analytics"
    # 2: the journeys' steps and transitions, repeat contacts, callback attempts; outcomes (outcome.recorded)
    # counted per hour, and each customer's lifetime value; the survey rollups. 3: the journeys' day rows.
    version = 3
    unit = AnalyticsRows
    _handlers = {
        "customer.merged": apply_customer_merged,
        "customer.profile_updated": apply_profile_updated,
        "thread.opened": apply_thread_opened,
        "thread.assigned": apply_thread_assigned,
        "thread.resolved": apply_thread_resolved,
        "thread.reopened": apply_thread_reopened,
        "message.received": apply_message,
        "message.sent": apply_message,
        "call.started": apply_call,
        "call.ended": apply_call,
        "call.transferred": apply_call,
        "survey.answered": apply_survey_answered,
        **dict.fromkeys(TOPIC_ONLY_TYPES + JOURNEY_ONLY_TYPES, apply_topic),
        **dict.fromkeys(CALLBACK_OUTCOME_TYPES, apply_callback_outcome),
        "outcome.recorded": apply_outcome_recorded,
    }
    handlers = {
        kind: handler if kind.startswith("customer.") else _and_journey(handler)
        for kind, handler in _handlers.items()
    }
    tables = (
        SurveyRollup,
        CallbackHour,
        CustomerTopic,
        TransitionHour,
        StepHour,
        CustomerValue,
        OutcomeHour,
        TopicFacts,
        EffortHour,
        HandlingHour,
        ThreadFacts,
        CustomerFacts,
    )

    def prefetch(self, unit: UnitOfWork, events: list[RecordedEvent]) -> None:
        # Ids from what the hub wrote (placement's metadata, its own events' data), never from a posted
        # event's free fields: a profile update may carry any extra field, and one that is not an id must
        # not stop the projection.
        customers, threads = set(), set()
        for event in events:
            customers.add(event.metadata.get("customer_id"))
            threads.add(event.metadata.get("thread_id"))
            if event.type == "customer.merged":
                customers.update((event.data["survivor_id"], event.data["merged_id"]))
            elif event.type.startswith("thread."):
                threads.add(event.data["thread_id"])
        unit.load("customer", {str(uuid.UUID(str(c))) for c in customers if c})
        unit.load("thread", {str(uuid.UUID(str(t))) for t in threads if t})
