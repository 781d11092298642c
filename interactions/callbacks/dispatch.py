"""The callback dispatcher: offer every due callback an agent is free for, re-route unanswered offers, end
lapsed windows.

Celery only asks a worker to look: a beat tick every second, and a nudge after a commit that may have made
something offerable. The dispatcher claims due rows with `FOR UPDATE SKIP LOCKED`; a lost, late, doubled or
redelivered message, a second beat, or a worker killed mid-transaction (which rolls back) changes nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from hub import log, storable, store, subscriptions
from hub.events import NewEvent, isoformat_z
from interactions.access.models import ApiToken, Role
from interactions.agents.models import AgentPresence, AgentSocket
from interactions.agents.selectors import statuses_now
from interactions.agents.services import SOCKET_STALE
from interactions.callbacks.events import (
    AnyThread,
    callback_event,
    expired_event,
    outcome_overdue_event,
    scheduled_event,
)
from interactions.callbacks.hours import next_allowed
from interactions.callbacks.models import Callback, CallbackState
from interactions.callbacks.schedule import schedules
from interactions.callbacks.selectors import (
    callback_offer_context,
    callback_positions,
    callback_requested,
    callback_zone,
    customer_timezones,
)
from interactions.catalogue import CALLBACK_ASKING_TYPES
from interactions.locks import AGENT_LOCKS, ROUTING_LOCKS
from interactions.placement.models import PlacedThread
from interactions.privacy.redaction import redact_event
from interactions.threads.models import Thread, TimelineEntry

DISPATCH_PAGE = 50
# How long the claim of due rows may wait for the callbacks table (SKIP LOCKED skips locked rows, not a
# table locked against claims, as an offline rebuild does): past it the tick ends and the next one retries,
# instead of holding a worker and the routing lock until the rebuild ends.
CLAIM_WAIT_MS = 2_000
logger = logging.getLogger(__name__)
# The read models an offer's context comes from (subscriptions, applied by runners): a callback is offered
# only once both have applied its request, so the agent never gets a context older than the ask.
CONTEXT_READ_MODELS = ["customers", "threads"]


class _ContextEncoder(DjangoJSONEncoder):
    """The offer's context as the REST API writes the same values: DjangoJSONEncoder cuts a datetime to the
    millisecond, which made the offer's times differ from the API's (and lost precision in the log)."""

    def default(self, o):
        if isinstance(o, datetime):
            return isoformat_z(o)
        return super().default(o)


@dataclass
class _Agent:
    id: str
    skills: frozenset[str]
    last_offered_at: datetime | None


def available_agents() -> dict[str, _Agent]:
    """Agents who are available, have a live socket (right now), and hold no offer or call."""
    fresh = timezone.now() - SOCKET_STALE
    live = {str(a) for a in AgentSocket.objects.filter(seen_at__gte=fresh).values_list("agent", flat=True)}
    # Their locks, as a status change takes its agent's: one committed while this transaction routes would
    # be ignored, and the log would show the offer after the agent went offline. It waits for this page.
    log.lock_keys(AGENT_LOCKS, live)
    available = [agent for agent, status in statuses_now(live).items() if status == "available"]
    presence = dict.fromkeys(available)
    presence.update(  # when each was last offered one (the read model: it orders, it does not decide)
        AgentPresence.objects.filter(agent_id__in=available).values_list("agent_id", "last_offered_at")
    )
    busy = set(
        Callback.objects.filter(state__in=(CallbackState.OFFERED, CallbackState.ACCEPTED)).values_list(
            "agent_id", flat=True
        )
    )
    tokens = ApiToken.objects.filter(pk__in=set(presence) - busy, role=Role.AGENT, revoked_at__isnull=True)
    return {
        str(pk): _Agent(str(pk), frozenset(s.lower() for s in skills), presence[str(pk)])
        for pk, skills in tokens.values_list("pk", "skills")
    }


def _left() -> set[str]:
    """Agents holding an offer whose status is no longer available (they went offline or busy, or
    their socket closed past the grace period): their offer lapses now and goes to another, not after the
    rest of its time."""
    holders = set(
        Callback.objects.filter(state=CallbackState.OFFERED).values_list("agent_id", flat=True).distinct()
    )
    if not holders:
        return set()
    return {agent for agent, status in statuses_now(holders).items() if status != "available"}


def _last_handler(thread: Thread) -> str | None:
    """The agent handling the thread, free or not: the one it is assigned to, else the agent (not a
    supervisor adding a note) who last acted on it. Busy or already asked, a skill match comes next, not
    whoever handled it before them (looked for among the free agents only, they were offered it)."""
    if thread.assigned_agent:
        return thread.assigned_agent
    recent = list(
        TimelineEntry.objects.filter(thread=thread)
        .exclude(agent_id="")
        .exclude(type__in=CALLBACK_ASKING_TYPES)
        .order_by("-position")
        .values_list("agent_id", flat=True)[:50]
    )
    agents = {
        str(pk)
        for pk in ApiToken.objects.filter(pk__in=set(recent), role=Role.AGENT).values_list("pk", flat=True)
    }
    return next((agent for agent in recent if agent in agents), None)


def _route(row: Callback, thread: Thread, agents: dict[str, _Agent]) -> tuple[str, str] | None:
    """The agent to offer to and why: the thread's last handler, else a skill match, else who waited most."""
    candidates = {a for a in agents if a not in row.tried_agents}
    if not candidates:
        return None
    last = _last_handler(thread)
    if last in candidates:
        return last, "last_agent"
    topic = thread.topic.lower()
    skilled = {a for a in candidates if topic and topic in agents[a].skills}
    pool = skilled or candidates
    never = datetime.min.replace(tzinfo=timezone.get_current_timezone())
    chosen = min(pool, key=lambda a: (agents[a].last_offered_at or never, a))
    return chosen, "skills" if skilled else "least_recent"


def _overdue_since(now: datetime) -> datetime:
    """An accepted call accepted at or before this moment has its outcome overdue at `now`."""
    return now - timedelta(minutes=settings.THREADLINE_CALLBACK_OUTCOME_OVERDUE_MINUTES)


def _outcome_overdue(row: Callback, now: datetime) -> bool:
    # A row accepted before accepted_at was kept has none: it is not declared overdue (it still expires).
    return row.accepted_at is not None and row.accepted_at <= _overdue_since(now)


def _followup_of(row: Callback) -> str | None:
    """The follow-up a callback was requested for, as its request says (interactions.followups): read from
    the log, once for each overdue call."""
    requested = callback_requested(row.pk)
    return requested.data.get("followup_id") if requested is not None else None


def _window_ended(row: Callback) -> str:
    """Why a callback nobody took expired: nobody was free, or those who were did not take it."""
    asked = len(row.tried_agents)  # this attempt's, the offer that just lapsed included
    if not asked:
        return "its window ended before an agent was free"
    agents = "the agent" if asked == 1 else f"all {asked} agents"
    return f"its window ended: {agents} offered it declined or let the offer lapse, and nobody else was free"


def _plan(
    row: Callback,
    thread: AnyThread,
    agents: dict[str, _Agent],
    zones: dict[uuid.UUID, str] | None,
    now: datetime,
) -> list[NewEvent]:
    """The events that move one due callback (or one unanswered offer) on; `zones` holds the current zone of
    each customer (customer_timezones), or is None while the context read models have not applied the
    callback's request: then only what needs no context happens (a lapsed offer, the end of its window)."""
    events: list[NewEvent] = []
    if row.state == CallbackState.ACCEPTED:  # claimed only once its outcome is overdue, or its grace is over
        if row.overdue_at is None and _outcome_overdue(row, now):
            # Supervisors hear of it (the `all` topic, and `followups` for a follow-up's callback), and so
            # does the agent on the call (agent:me).
            events.append(outcome_overdue_event(row, thread, now, followup_id=_followup_of(row)))
        if now < row.window_end + timedelta(hours=settings.THREADLINE_CALLBACK_OUTCOME_GRACE_HOURS):
            return events
        grace = f"{settings.THREADLINE_CALLBACK_OUTCOME_GRACE_HOURS:g} h"
        reason = f"no outcome was recorded for attempt {row.attempt} within {grace} after its window ended"
        # The agent on the call hears of it (agent:me): their desk showed the call under way for good.
        return [*events, expired_event(row, thread, reason, now, agent_id=row.agent_id)]
    if row.state == CallbackState.OFFERED:
        data = {"attempt": row.attempt, "offer": row.offer, "agent_id": row.agent_id}
        if row.offer_expires_at and row.offer_expires_at > now:  # claimed early: its agent left (_left)
            data["reason"] = "the agent was no longer available"
        events.append(
            callback_event(row, thread, "offer_timed_out", f"{row.attempt}/{row.offer}/answer", data, now)
        )
    version = row.version + len(events) + 1  # of the next event
    if now >= row.window_end:
        return [*events, expired_event(row, thread, _window_ended(row), now)]
    if zones is None:  # the read models lag behind the request: what follows needs them, the next tick
        return events
    allowed = schedules(callback_zone(row, zones.get(thread.customer_id)))
    due = next_allowed(now, allowed, until=row.window_end)
    if due is None:
        return [*events, expired_event(row, thread, "no allowed time is left in its window", now)]
    if due > now:
        return [*events, scheduled_event(row, thread, row.attempt, due, "hours", now, version=version)]
    route = _route(row, thread, agents)
    if route is None:
        return events  # nobody free: it stays due and the next tick tries again
    agent_id, why = route
    del agents[agent_id]  # one offer at a time per agent
    offer = row.offer + 1
    expires = now + timedelta(seconds=settings.THREADLINE_CALLBACK_OFFER_SECONDS)
    context = callback_offer_context(row, thread, now)
    data = {
        "attempt": row.attempt,
        "offer": offer,
        "agent_id": agent_id,
        "route": why,
        "expires_at": expires.isoformat(),
        "context": _within(json.loads(json.dumps(context, cls=_ContextEncoder)), storable.MAX_JSON_DEPTH - 2),
    }
    return [*events, callback_event(row, thread, "offered", f"{row.attempt}/{offer}/offered", data, now)]


TOO_DEEP = "(nested too deep to copy into the offer: read it from the customer's context)"


def _within(value: Any, depth: int) -> Any:
    """`value` with what is nested deeper than `depth` levels replaced by TOO_DEEP: the offer copies the
    customer's profile, which may be nested as deep as the log keeps, two levels further down (data.context),
    and one offer that could not be stored stopped every other offer of the page."""
    if isinstance(value, dict | list) and depth <= 0:
        return TOO_DEEP
    if isinstance(value, dict):
        return {key: _within(item, depth - 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_within(item, depth - 1) for item in value]
    return value


def callbacks_dispatch(*, now: datetime | None = None, page: int = DISPATCH_PAGE, wait: bool = True) -> int:
    """Offer every due callback an agent is free for, re-route unanswered offers, end lapsed windows.

    Returns the number of events appended. Pages through the due rows in (due_at, id) order, one
    transaction per page, so the oldest callbacks get the free agents first. `now` is the time due-ness is
    judged at (default: the present); whether an agent's socket is live is always judged at the present.
    With `wait=False` (a nudge), it returns at once if another dispatcher is routing right now: that one
    offers what is due, and the next tick whatever falls due after it looked.
    """
    run = _Run(now=now or timezone.now(), page=page, wait=wait)
    appended = 0
    while True:
        count, more = _dispatch_page(run)
        appended += count
        if not more:
            return appended


@dataclass
class _Run:
    """One dispatch run as it pages through the due rows, oldest first."""

    now: datetime
    page: int
    wait: bool
    after: tuple[datetime, uuid.UUID] | None = None  # the last row of the page before
    free: set[str] | None = None  # still free of those free at the first page (freed later: the next tick)


def _dispatch_page(run: _Run) -> tuple[int, bool]:
    """(events appended, whether a next page may hold more), `run` moved on."""
    try:
        # SQLite: its BEGIN waits for the one write lock, which an offline rebuild holds for its whole
        # length: as long as a claim may wait on PostgreSQL, not the 20 s busy timeout (a worker thread held
        # that long, then the task failed).
        with log.waiting_at_most(CLAIM_WAIT_MS):
            return _dispatch_page_in_transaction(run)
    except OperationalError as exc:
        if not log.is_lock_timeout(exc):
            raise
        # The callbacks table is locked against claims (an offline rebuild holds it): the next tick retries.
        logger.info("callback dispatch: the callbacks table is busy; the next tick tries again")
        return 0, False


def _dispatch_page_in_transaction(run: _Run) -> tuple[int, bool]:
    now, page, after = run.now, run.page, run.after
    with transaction.atomic():
        # One router at a time, so two dispatchers never offer the same free agent two callbacks.
        if run.wait:
            log.lock_keys(ROUTING_LOCKS, ["route"])
        elif not log.try_lock_key(ROUTING_LOCKS, "route"):
            return 0, False
        unreported = now - timedelta(hours=settings.THREADLINE_CALLBACK_OUTCOME_GRACE_HOURS)
        due = (
            Q(state=CallbackState.SCHEDULED, due_at__lte=now)
            | Q(state=CallbackState.OFFERED, offer_expires_at__lte=now)
            | Q(state=CallbackState.OFFERED, agent_id__in=_left())
            | Q(state=CallbackState.ACCEPTED, window_end__lte=unreported)
            | Q(state=CallbackState.ACCEPTED, overdue_at__isnull=True, accepted_at__lte=_overdue_since(now))
        )
        query = Callback.objects.select_for_update(skip_locked=True).filter(due)
        if after is not None:
            query = query.filter(Q(due_at__gt=after[0]) | Q(due_at=after[0], pk__gt=after[1]))
        log.lock_timeout(CLAIM_WAIT_MS)
        rows = list(query.order_by("due_at", "pk")[:page])
        log.lock_timeout(0)
        if not rows:
            return 0, False
        agents = available_agents()
        # Only those free at the run's first page (and still free): one freed since goes to the next tick,
        # which starts at the oldest callback, not to a newer one on a later page.
        if run.free is not None:
            agents = {agent_id: agent for agent_id, agent in agents.items() if agent_id in run.free}
        threads = Thread.objects.in_bulk({r.thread_id for r in rows})
        context_ready = min(subscriptions.positions(CONTEXT_READ_MODELS).values())
        requested = callback_positions(rows, version=1)  # where each callback.requested is in the log
        # Read after context_ready: the customers read model holds at least what it held at each request.
        zones = customer_timezones({t.customer_id for t in threads.values()})
        events: list[NewEvent] = []
        expected: dict[str, int] = {}
        lagging = {
            row.pk
            for row in rows
            if requested.get(str(row.pk), context_ready + 1) > context_ready or row.thread_id not in threads
        }
        # The context would miss the request itself: the next tick offers it. A window that ended ends now
        # all the same, named by placement's write model if the threads read model has no row yet.
        placed = PlacedThread.objects.in_bulk({r.thread_id for r in rows if r.pk in lagging} - set(threads))
        for row in rows:
            thread = threads.get(row.thread_id) or placed.get(row.thread_id)
            if thread is None:
                continue
            planned = _plan(row, thread, agents, None if row.pk in lagging else zones, now)
            if planned:
                # The offer's context copies read models, which hold redacted values; redacting it again
                # keeps the rule simple: nothing is appended without the pass.
                planned = [redact_event(event) for event in planned]
                if problems := store.unstorable(planned):  # one callback must not stop the others'
                    logger.error("callback %s: its next step cannot be stored: %s", row.pk, problems)
                    continue
                events += planned
                expected[f"callback-{row.pk}"] = row.version
        if events:
            store.append(events, expected_versions=expected, deduplicate=False)
        last = rows[-1]
        run.after, run.free = (last.due_at, last.pk), set(agents)  # those left are still free
        return len(events), len(rows) == page


def waiting_for_an_agent(now: datetime) -> bool:
    """Is a callback due since before the last tick still unoffered (so nobody was free for it)?

    Only then is a nudge worth a dispatch run: what fell due since the last tick, the next tick offers in
    one batch, and under load many one-offer runs cost more than they save (measured: p99 lateness 18 s
    with a run after every answer, 1.7 s without).
    """
    since = now - timedelta(seconds=settings.THREADLINE_CALLBACK_TICK_SECONDS)
    return Callback.objects.filter(state=CallbackState.SCHEDULED, due_at__lte=since).exists()
