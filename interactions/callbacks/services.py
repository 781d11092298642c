"""Callbacks asked for over the API or a socket: request one, cancel it, answer an offer, report the outcome.

The `Callback` table (a projection of each callback's `callback-<id>` stream) is the truth of what is due.
Every change is a transition: lock the row, check its state, and append the next events against the
stream's version, all in one transaction (see interactions.callbacks.events for why each step has a fixed
event id). The dispatcher that makes offers is interactions.callbacks.dispatch.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hub import log, store
from hub.errors import NotFound
from hub.events import NO_STREAM, NewEvent, isoformat_z
from hub.storable import LATEST_TIME
from interactions import jobs
from interactions.access.models import ApiToken
from interactions.access.rules import require_may_answer_offers, require_may_request_callbacks
from interactions.callbacks.dispatch import waiting_for_an_agent
from interactions.callbacks.events import callback_event, expired_event, scheduled_event
from interactions.callbacks.hours import next_allowed
from interactions.callbacks.models import Callback, CallbackState
from interactions.callbacks.schedule import schedules
from interactions.callbacks.selectors import callback_requested, callback_zone, customer_timezones
from interactions.catalogue import HUB_SOURCE
from interactions.catalogue.zones import iana_zone
from interactions.customers.models import Customer
from interactions.errors import Conflict, Forbidden, InvalidIdentifier, InvalidRequest
from interactions.idempotency import HEADER as IDEMPOTENCY_HEADER
from interactions.idempotency import IdempotencyKeyReused, keyed_uuid
from interactions.identity.identifiers import parse_identifier, tel_extension
from interactions.placement.locks import placement_view_locked, retrying_deadlocks
from interactions.placement.models import PlacedThread
from interactions.placement.rules import PlacementError
from interactions.privacy.redaction import redact_event

OUTCOMES = ("completed", "no_answer", "busy", "failed")
REMARK_MAX = 2000  # characters of an agent's decline reason or outcome note, over REST or the socket


def _remark(field: str, value: str | None) -> str | None:
    """An agent's free text, refused past REMARK_MAX: each is kept in the log, and in every later offer's
    context, for good."""
    if value is not None and len(value) > REMARK_MAX:
        raise InvalidRequest(
            f"{field} is at most {REMARK_MAX} characters",
            extra={"errors": [{"field": field, "message": f"at most {REMARK_MAX} characters"}]},
        )
    return value


# A requested time this far in the past is read as "now" (clocks differ); earlier is refused.
CLOCK_SKEW = timedelta(seconds=60)


class CallbackConflict(Conflict):
    """The callback is not in a state that allows this."""


def nudge_dispatch() -> None:
    """After this transaction commits, ask a worker to dispatch now (the beat tick would, a second later)."""
    jobs.enqueue_on_commit(jobs.CALLBACKS_DISPATCH)


@dataclass(frozen=True)
class RequestInput:
    identifier: str
    phone: str
    thread_id: uuid.UUID | None = None
    reason: str = ""
    topic: str | None = None
    at: datetime | None = None
    window_end: datetime | None = None
    timezone: str | None = None
    followup_id: uuid.UUID | None = None  # the follow-up it is requested for (interactions.followups)


def _checked(request: RequestInput, now: datetime) -> tuple[str, str, datetime, datetime]:
    """The subject URI, the number to dial, the start and the end of the window; or every error at once."""
    errors: list[dict[str, str]] = []
    subject = phone = ""
    try:
        subject = parse_identifier(request.identifier).uri
    except InvalidIdentifier as exc:
        errors.append({"field": "identifier", "message": str(exc)})
    raw_phone = request.phone if request.phone.lower().startswith("tel:") else f"tel:{request.phone}"
    try:
        phone = parse_identifier(raw_phone).uri
    except InvalidIdentifier as exc:
        errors.append({"field": "phone", "message": str(exc)})
    else:
        if extension := tel_extension(raw_phone):  # the number to dial would have lost it
            errors.append(
                {
                    "field": "phone",
                    "message": f"an extension ({extension}) cannot be dialled; give a direct number",
                }
            )
    if request.timezone is not None:
        try:
            iana_zone(request.timezone)  # strictly: what is kept now is read as it is later
        except ValueError as exc:
            errors.append({"field": "timezone", "message": str(exc)})
    for name in ("at", "window_end"):
        value = getattr(request, name)
        if value is not None and value.tzinfo is None:
            errors.append(
                {"field": name, "message": f"{name} needs a UTC offset, e.g. 2026-11-23T15:00:00+01:00"}
            )
    if errors:
        raise InvalidRequest(errors[0]["message"], extra={"errors": errors})
    if request.at is not None and request.at < now - CLOCK_SKEW:
        errors.append({"field": "at", "message": "at is in the past"})
    start = max(request.at or now, now)
    # The default window ends no later than the log can store a time (hub.storable): one asked for at the
    # end of 2199 ended in 2200.
    end = request.window_end or min(
        start + timedelta(hours=settings.THREADLINE_CALLBACK_WINDOW_HOURS), LATEST_TIME
    )
    if request.window_end is not None and request.window_end <= start:
        errors.append({"field": "window_end", "message": "window_end must be after the start (at, or now)"})
    if errors:
        raise InvalidRequest(errors[0]["message"], extra={"errors": errors})
    return subject, phone, start, end


def callback_request(
    *,
    actor: ApiToken,
    request: RequestInput,
    now: datetime | None = None,
    idempotency_key: str | None = None,
) -> Callback:
    """Record the request on the customer's thread (the thread rules apply) and schedule the first attempt.

    Raises InvalidRequest, naming the field, for a bad identifier, number, zone or window, or a window with
    no moment inside business hours and the customer's calling hours. A request sent again with the same
    idempotency key answers the callback the first one made (interactions.idempotency), whatever its state
    now; IdempotencyKeyReused if the first was another request.
    """
    require_may_request_callbacks(actor)
    now = now or timezone.now()
    # With a key, the callback's id is the key's (so its request event's id too): a repeat finds it.
    callback_id = keyed_uuid(actor, idempotency_key) if idempotency_key else uuid.uuid4()
    # A repeat is judged as of its first request: "now" decided the start (`at` or now, whichever is later)
    # and the default window, so a retry sent a minute on differed from it (409), or found its `at` past.
    first_at = _first_request_time(callback_id) if idempotency_key else None
    subject, phone, start, end = _checked(request, first_at or now)
    data: dict[str, Any] = {
        "callback_id": str(callback_id),
        "phone": phone.removeprefix("tel:"),
        "reason": request.reason,
        "not_before": start.isoformat(),
        "window_end": end.isoformat(),
        "requested_by": str(actor.pk),
    }
    if request.thread_id is not None:
        data["thread_id"] = str(request.thread_id)
    if request.topic:
        data["topic"] = request.topic
    if request.followup_id is not None:
        data["followup_id"] = str(request.followup_id)
    event = redact_event(
        NewEvent(
            source=HUB_SOURCE,
            id=f"{callback_id}/requested",
            type="callback.requested",
            subject=subject,
            stream=f"callback-{callback_id}",
            data=data,
            occurred_at=now,
            metadata={"token": str(actor.pk)},
        )
    )

    def place_and_append() -> Callback:
        with transaction.atomic():
            view = placement_view_locked([event])  # the customer's lock: a repeat waits for the first
            if idempotency_key and (first := _first_request(event, request)):
                return first
            try:
                placement = view.decide(event, now=now)
            except PlacementError as exc:
                raise InvalidRequest(
                    exc.message, extra={"errors": [{"field": "thread_id", "message": exc.message}]}
                ) from exc
            tz = request.timezone or (
                Customer.objects.filter(pk=placement.customer_id).values_list("timezone", flat=True).first()
            )
            due = next_allowed(start, schedules(tz or None), until=end)
            if due is None:
                message = "no moment between the start and window_end is inside business hours" + (
                    " and the customer's calling hours" if tz else ""
                )
                raise InvalidRequest(message, extra={"errors": [{"field": "window_end", "message": message}]})
            zones = {"timezone": tz or None, "requested_timezone": request.timezone or None}
            requested = placement.stamped(replace(event, data={**event.data, **zones}))
            requested = replace(requested, stream=f"callback-{callback_id}")
            row = Callback(pk=callback_id)
            thread = PlacedThread(pk=placement.thread_id, customer_id=placement.customer_id)
            scheduled = scheduled_event(row, thread, 1, due, "requested", now, version=2)
            store.append(
                [*placement.prelude, requested, scheduled],
                expected_versions={f"callback-{callback_id}": NO_STREAM},
            )
            if due <= now + timedelta(seconds=settings.THREADLINE_CALLBACK_TICK_SECONDS):
                nudge_dispatch()
            return Callback.objects.get(pk=callback_id)

    return retrying_deadlocks(place_and_append)


def _first_request_time(callback_id: uuid.UUID) -> datetime | None:
    """When the request that made this callback was made, if one was."""
    found = callback_requested(callback_id)
    return found.occurred_at if found is not None else None


def _first_request(event: NewEvent, request: RequestInput) -> Callback | None:
    """The callback a first request with this idempotency key made (None if there was none); refused when
    that request asked for something else."""
    found = log.existing([(event.source, event.id)]).get((event.source, event.id))
    if found is None:
        return None
    asked, first = event.data, found.data
    same = (
        found.subject == event.subject
        and all(first.get(k) == asked.get(k) for k in ("phone", "reason", "topic", "followup_id"))
        and (request.thread_id is None or first.get("thread_id") == asked.get("thread_id"))
        # Both as this request decides them at the first request's time: a retry that leaves `at` or
        # `window_end` out asks for as soon as possible, or the default window, which the first may not have.
        # (Not as the retry decided them: sent while the first was still running, it read no first time.)
        and _decides_as_first(request, found.occurred_at, first)
        and first.get("requested_timezone") == (request.timezone or None)
    )
    if not same:
        raise IdempotencyKeyReused(
            f"this {IDEMPOTENCY_HEADER} was used for another request; send a new key with a new request"
        )
    return Callback.objects.get(pk=first["callback_id"])


def _decides_as_first(request: RequestInput, first_at: datetime, first: dict[str, Any]) -> bool:
    """Does this request, judged at the first request's time, give the start and window the first did?"""
    try:
        _, _, start, end = _checked(request, first_at)
    except InvalidRequest:
        return False
    return _same_time(first.get("not_before"), start) and _same_time(first.get("window_end"), end)


def _same_time(recorded: Any, asked: datetime) -> bool:
    """A time the log recorded (ISO 8601 text) is this moment, whatever offset either is written with."""
    try:
        return isinstance(recorded, str) and datetime.fromisoformat(recorded) == asked
    except ValueError:
        return False


# --- Transitions asked for over the API or the websocket ----------------------------------------------


def _transition(callback_id: uuid.UUID | str, decide, now: datetime | None = None) -> Callback:
    """Lock the callback, let `decide(row, thread, now)` check it and return the events, redact and append
    them."""
    now = now or timezone.now()
    with transaction.atomic():
        row = Callback.objects.select_for_update().filter(pk=callback_id).first()
        if row is None:
            raise NotFound(f"no callback {callback_id}")
        thread = PlacedThread.objects.get(pk=row.thread_id)  # the write model: its customer is current
        events = [redact_event(event) for event in decide(row, thread, now)]
        if events:
            # The row lock and the version serialise this callback's steps: no duplicate look-up needed.
            store.append(events, expected_versions={f"callback-{row.pk}": row.version}, deduplicate=False)
            row.refresh_from_db()
    return row


def _refuse(row: Callback, actor: ApiToken, doing: str) -> None:
    if str(actor.pk) in row.tried_agents and row.agent_id != str(actor.pk):
        # Offered to them in this attempt, and no longer: a stale answer (their offer lapsed, or another
        # answer of theirs ended it), whoever has the callback now.
        raise CallbackConflict(
            f"cannot {doing} callback {row.pk}: the offer to you has ended (it lapsed, or you answered it)"
        )
    if row.agent_id and row.agent_id != str(actor.pk):
        raise Forbidden(f"callback {row.pk} is with another agent")
    raise CallbackConflict(f"cannot {doing} callback {row.pk}: it is {row.state}")


def _lapsed(row: Callback, now: datetime) -> bool:
    """The offer's time is up, whether or not the dispatcher has recorded it yet (its next tick will)."""
    expires = row.offer_expires_at
    return row.state == CallbackState.OFFERED and expires is not None and expires <= now


def _lapse_refused(row: Callback, doing: str) -> None:
    raise CallbackConflict(
        f"cannot {doing} callback {row.pk}: the offer to you lapsed at {isoformat_z(row.offer_expires_at)}"
    )


def _last_answer(row: Callback, actor: ApiToken) -> str | None:
    """The type of this agent's last answer to an offer of the callback's current attempt (accepted,
    declined, or the dispatcher's offer_timed_out), or None: from the callback's own stream, which is
    short, and read only when an answer does not fit the callback's state."""
    for event in reversed(log.read_stream(f"callback-{row.pk}")):
        if event.data.get("attempt") != row.attempt:
            if event.type == "callback.scheduled":
                break  # an earlier attempt's answers are not this one's
            continue
        if event.data.get("agent_id") == str(actor.pk) and event.type in _ANSWERS:
            return event.type
    return None


_ANSWERS = ("callback.accepted", "callback.declined", "callback.offer_timed_out")


@dataclass(frozen=True)
class OfferNamed:
    """The offer an answer is to, as its `callback.offered` event said (`attempt`, `offer`), when the answer
    names it; either may be left out (then the callback's current one)."""

    attempt: int | None = None
    offer: int | None = None

    def other_than(self, row: Callback) -> tuple[int, int] | None:
        """(attempt, offer) named, when it is not the one the callback is at now."""
        named = (self.attempt or row.attempt, self.offer or row.offer)
        return named if named != (row.attempt, row.offer) else None


def _to_an_earlier_offer(
    row: Callback, actor: ApiToken, named: tuple[int, int], doing: str, answer: str
) -> list[NewEvent]:
    """An answer naming an offer the callback has moved past: the same answer again is harmless (nothing is
    written), anything else a 409. Without the offer named, a retried decline of an offer that lapsed
    declined the next offer of the same attempt to the same agent (after an `hours` reschedule)."""
    # The one answer an offer can have (callback_event's key), found by its (source, id) as any event is.
    key = (HUB_SOURCE, f"{row.pk}/{named[0]}/{named[1]}/answer")
    given = log.existing([key]).get(key)
    if given is not None and given.type == answer and given.data.get("agent_id") == str(actor.pk):
        return []
    raise CallbackConflict(
        f"cannot {doing} callback {row.pk}: offer {named[1]} of attempt {named[0]} is not its current offer"
        f" (offer {row.offer} of attempt {row.attempt}, {row.state})"
    )


def callback_accept(
    *, callback_id: uuid.UUID | str, actor: ApiToken, named: OfferNamed = OfferNamed()
) -> Callback:
    """The offered agent takes the callback and dials. Accepting twice is harmless."""
    require_may_answer_offers(actor)

    def decide(row: Callback, thread: PlacedThread, now: datetime) -> list[NewEvent]:
        if earlier := named.other_than(row):
            return _to_an_earlier_offer(row, actor, earlier, "accept", "callback.accepted")
        mine = row.agent_id == str(actor.pk)
        if row.state == CallbackState.ACCEPTED and mine:
            return []
        if row.state != CallbackState.OFFERED or not mine:
            _refuse(row, actor, "accept")
        if _lapsed(row, now):  # a stale answer: the dispatcher had not yet recorded the lapse
            _lapse_refused(row, "accept")
        data = {"attempt": row.attempt, "offer": row.offer, "agent_id": str(actor.pk)}
        return [
            callback_event(row, thread, "accepted", f"{row.attempt}/{row.offer}/answer", data, now, actor)
        ]

    return _transition(callback_id, decide)


def callback_decline(
    *,
    callback_id: uuid.UUID | str,
    actor: ApiToken,
    reason: str | None = None,
    named: OfferNamed = OfferNamed(),
) -> Callback:
    """The offered agent declines; the dispatcher offers the callback to someone else."""
    require_may_answer_offers(actor)
    reason = _remark("reason", reason)

    def decide(row: Callback, thread: PlacedThread, now: datetime) -> list[NewEvent]:
        if earlier := named.other_than(row):
            return _to_an_earlier_offer(row, actor, earlier, "decline", "callback.declined")
        if row.state != CallbackState.OFFERED or row.agent_id != str(actor.pk):
            if _last_answer(row, actor) == "callback.declined":
                return []  # declined already, whatever the callback has done since (offered to another)
            _refuse(row, actor, "decline")
        if _lapsed(row, now):
            _lapse_refused(row, "decline")
        data = {"attempt": row.attempt, "offer": row.offer, "agent_id": str(actor.pk), "reason": reason}
        nudge_dispatch()
        return [
            callback_event(row, thread, "declined", f"{row.attempt}/{row.offer}/answer", data, now, actor)
        ]

    return _transition(callback_id, decide)


def callback_outcome(
    *, callback_id: uuid.UUID | str, actor: ApiToken, outcome: str, note: str | None = None
) -> Callback:
    """How the call went. Anything but `completed` schedules a retry after the next backoff step, inside the
    window and the allowed hours, or ends the callback as expired when none is left."""
    require_may_answer_offers(actor)
    if outcome not in OUTCOMES:
        raise InvalidRequest(
            f"outcome is one of {', '.join(OUTCOMES)}",
            extra={"errors": [{"field": "outcome", "message": f"one of {', '.join(OUTCOMES)}"}]},
        )
    note = _remark("note", note)

    def decide(row: Callback, thread: PlacedThread, now: datetime) -> list[NewEvent]:
        if row.state != CallbackState.ACCEPTED or row.agent_id != str(actor.pk):
            if _repeats_last_outcome(row, actor, outcome):
                return []  # the same report again
            _refuse(row, actor, "report the outcome of")
        data = {"attempt": row.attempt, "agent_id": str(actor.pk), "note": note}
        events = [callback_event(row, thread, outcome, f"{row.attempt}/outcome", data, now, actor)]
        if waiting_for_an_agent(now):
            nudge_dispatch()  # the agent is free again, and a callback waits for one
        if outcome == "completed":
            return events
        waits = settings.THREADLINE_CALLBACK_RETRY_SECONDS
        if row.attempt > len(waits):
            return [*events, expired_event(row, thread, f"no answer after {row.attempt} attempts", now)]
        earliest = now + timedelta(seconds=waits[row.attempt - 1])
        # No readiness check is needed for this read: an outcome follows an offer, and the dispatcher offers
        # only once the customers read model has reached the request (and read models only move on); the
        # dispatcher also checks the hours again, in the zone it reads then, before it offers the retry.
        zone = callback_zone(row, customer_timezones([thread.customer_id]).get(thread.customer_id))
        due = next_allowed(earliest, schedules(zone), until=row.window_end)
        if due is None:
            return [*events, expired_event(row, thread, "the window ends before the next attempt", now)]
        retry = scheduled_event(row, thread, row.attempt + 1, due, "retry", now, version=row.version + 2)
        return [*events, retry]

    return _transition(callback_id, decide)


def _repeats_last_outcome(row: Callback, actor: ApiToken, outcome: str) -> bool:
    """This agent reported this outcome last, and the callback has done nothing since but what that report
    made it do: completed; a retry scheduled and not yet offered; or expired at once. A report after the
    next attempt was offered (to them, not accepted; or accepted and expired unreported) is not a repeat
    of the earlier one: it was answered 200 and dropped."""
    last = row.outcomes[-1] if row.outcomes else {}
    if last.get("outcome") != outcome or last.get("agent_id") != str(actor.pk):
        return False
    attempt = last.get("attempt")
    if row.state == CallbackState.SCHEDULED:
        return row.attempt == attempt + 1 and row.offer == 0
    return row.state in (CallbackState.COMPLETED, CallbackState.EXPIRED) and row.attempt == attempt


def callback_cancel(*, callback_id: uuid.UUID | str, actor: ApiToken, reason: str | None = None) -> Callback:
    """The customer changed their mind: it never fires. Cancelling twice is harmless; a call under way
    (accepted) or a finished callback cannot be cancelled."""
    require_may_request_callbacks(actor)

    def decide(row: Callback, thread: PlacedThread, now: datetime) -> list[NewEvent]:
        if row.state == CallbackState.CANCELLED:
            return []
        if row.state not in (CallbackState.SCHEDULED, CallbackState.OFFERED):
            raise CallbackConflict(f"callback {row.pk} is {row.state} and can no longer be cancelled")
        data = {"reason": reason or "cancelled", "agent_id": row.agent_id or None}
        return [callback_event(row, thread, "cancelled", "cancelled", data, now, actor)]

    return _transition(callback_id, decide)
