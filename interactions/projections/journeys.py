"""The journeys part of the `analytics` subscription: each thread (one customer objective) followed step by
step, counted per hour and per UTC day in `analytics_step_hour` and `analytics_transition_hour` (README
"Journeys").

A step is where the customer is in touch: the channel of their contact (`sms`, `voice`, ...), `<channel>:self-
service` when that contact was with self-service (`data.self_service`), or `callback` when they asked to be
called back. Contacts in a row on one step are one visit to it; moving to another is a transition, timed
from the last contact at the one to the first at the other (`start` is where every journey begins).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from hub.events import RecordedEvent
from interactions.analytics.models import GAP_BINS, StepHour, ThreadFacts, TransitionHour
from interactions.catalogue import activity_at, automated
from interactions.projections.counting import add_to, hour_of, row_key

START = "start"
SELF_SERVICE = ":self-service"
# How an inbound call that reached no one ends (Twilio's statuses, and `abandoned` from any other source).
ABANDONED = frozenset({"abandoned", "busy", "canceled", "failed", "no-answer"})
# A callback that ended for good: it no longer waits to be made.
CALLBACK_ENDED = ("callback.completed", "callback.expired", "callback.cancelled")


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, round((end - start).total_seconds()))


def _count(rows, thread: ThreadFacts, at: datetime, model, **fields) -> None:
    """Add the int `fields` to the `model` rows of `at`'s hour and of its UTC day, the thread's topic, its
    customer's segment and the str `fields` (the step, or the transition's two steps)."""
    names = {k: v for k, v in fields.items() if isinstance(v, str)}
    counts = {k: v for k, v in fields.items() if not isinstance(v, str)}
    customer = rows.customer(thread.customer_id) if thread.customer_id else None
    hour = hour_of(at)
    identity = {"hour": hour, "topic": thread.topic, "segment": customer.segment if customer else "", **names}
    kind = "steps" if model is StepHour else "transitions"
    day = {**identity, "hour": hour.replace(hour=0), "period": "day"}  # (an hour row's key has no period)
    keys = {row_key({"kind": kind, **identity}): identity, row_key({"kind": kind, **day}): day}
    rows.load(kind, keys)  # both rows in one look-up
    for key, row in keys.items():
        add_to(rows, kind, key, row, counts)


def step_of(event: RecordedEvent) -> str | None:
    """The step a customer's contact puts them at; None for an event that is not the customer in touch."""
    data = event.data
    if event.type == "message.received" and not automated(data):
        return data["channel"] + (SELF_SERVICE if data.get("self_service") else "")
    if data.get("direction") == "inbound" and (
        event.type == "call.started" or (event.type == "call.ended" and _unreached(data))
    ):  # a call's end is a step of its own only for a call that reached no one: it never started
        return _call_step(data)
    if event.type == "callback.requested" and not data.get("followup_id"):
        return "callback"  # they asked (one the hub asks for a follow-up is no step of theirs)
    return None


def _call_step(data: dict) -> str:
    return "voice" + (SELF_SERVICE if data.get("self_service") else "")


def _unreached(data: dict) -> bool:
    """Did the call reach no one (abandoned, busy, no answer, ...)?"""
    return (data.get("disposition") or "") in ABANDONED


def arrive(rows, event: RecordedEvent, thread: ThreadFacts, step: str) -> None:
    """The customer is in touch at `step`: a new visit when they were elsewhere (a transition to it, and a
    bounce of their self-service visit when this is an assisted contact soon after it), and for a message,
    the wait for an answer begins unless they already wait."""
    at = activity_at(event)
    if thread.step != step:
        if thread.step:  # timed from their last contact at the step they leave
            gap = _seconds(thread.step_at, at)
            timing = {"gap_seconds": gap, f"gap_{_bin(gap)}": 1}
        else:  # where their journey starts: nothing to time
            timing = {}
        _count(rows, thread, at, TransitionHour, from_step=thread.step or START, to_step=step, transitions=1,
               **timing)  # fmt: skip
        _count(rows, thread, at, StepHour, step=step, entries=1)
        if (
            not step.endswith(SELF_SERVICE)
            and thread.self_service_at
            and timedelta(0)
            <= at - thread.self_service_at
            <= timedelta(hours=settings.THREADLINE_BOUNCE_HOURS)
        ):
            _count(rows, thread, at, StepHour, step=thread.self_service_step, bounced=1)
            thread.self_service_at, thread.self_service_step = None, ""
        thread.step = step
    thread.step_at = max(thread.step_at or at, at)
    if step.endswith(SELF_SERVICE):
        thread.self_service_at, thread.self_service_step = at, step
    if event.type == "message.received" and thread.waiting_since is None:
        thread.waiting_since, thread.waiting_step = at, step
        if thread.answered_at and thread.answered_at >= at:  # answered already: the answer reached the
            _answer(rows, thread, thread.answered_at)  # hub first (a gateway that delivers late)
    rows.touch("thread", thread.pk)


def answered(rows, thread: ThreadFacts, at: datetime) -> None:
    """Someone answered the customer at `at` (a message to them, a call that reached them, their callback
    made): the wait ends, counted at the step they waited at, and as a dead-end when it went past the SLA.
    The latest answer is kept, for a message that reaches the hub after an answer given later."""
    thread.answered_at = max(thread.answered_at or at, at)
    rows.touch("thread", thread.pk)
    if thread.waiting_since is None or at < thread.waiting_since:
        return  # an answer given before the message (sent earlier, arrived later) answers an earlier one
    _answer(rows, thread, at)


def _answer(rows, thread: ThreadFacts, at: datetime) -> None:
    _count(rows, thread, at, StepHour, step=thread.waiting_step, waits=1,
           wait_seconds=_seconds(thread.waiting_since, at))  # fmt: skip
    _end_wait(rows, thread, at)


def _end_wait(rows, thread: ThreadFacts, at: datetime) -> None:
    deadline = thread.waiting_since + timedelta(minutes=settings.THREADLINE_RESPONSE_SLA_MINUTES)
    if at > deadline:  # counted in the hour the SLA passed, when the customer was left unanswered
        _count(rows, thread, deadline, StepHour, step=thread.waiting_step, unanswered=1)
    thread.waiting_since, thread.waiting_step = None, ""
    rows.touch("thread", thread.pk)


def _bin(seconds: int) -> int:
    for n, bound in enumerate(GAP_BINS):
        if seconds < bound:
            return n
    return len(GAP_BINS)


def apply(rows, event: RecordedEvent, thread: ThreadFacts | None) -> None:
    """The journey part of an event on `thread` (the analytics projector calls it for every event it
    handles, after its own part)."""
    if thread is None:
        return
    step = step_of(event)
    if step is not None:
        arrive(rows, event, thread, step)
    kind, data = event.type, event.data
    if (kind == "message.sent" and not automated(data)) or kind == "callback.completed":
        answered(rows, thread, activity_at(event))
    elif kind == "call.ended" and not _unreached(data) and not data.get("self_service"):
        # A call that reached someone, whoever dialled, answers the customer from when it began (the log says
        # when a call ended and how long it lasted; whether a call.started came, and when, it does not need).
        ended = activity_at(event)
        answered(rows, thread, ended - timedelta(seconds=data["duration_seconds"]))
    elif kind == "call.transferred":
        _count(rows, thread, activity_at(event), StepHour, step=_call_step(data), transfers=1)
    if kind == "call.ended" and step is not None:  # a step of its own: an inbound call that reached no one
        _count(rows, thread, activity_at(event), StepHour, step=step, abandoned=1)
    if kind == "callback.requested":
        thread.pending_callbacks += 1
    elif kind in CALLBACK_ENDED:
        thread.pending_callbacks = max(0, thread.pending_callbacks - 1)
    elif kind in ("thread.resolved", "thread.idled") and thread.waiting_since is not None:
        _end_wait(rows, thread, activity_at(event))  # left without an answer, for good
    if kind == "thread.idled" and thread.step and not thread.resolved and not thread.pending_callbacks:
        # (A thread the customer took no step on, opened by the hub for an outcome, say, is no journey.)
        _count(rows, thread, activity_at(event), StepHour, step=thread.step, idled=1)
    rows.touch("thread", thread.pk)
