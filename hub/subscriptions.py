"""Durable subscriptions: named consumers of the log, each with its own checkpoint, applied by runners.

A subscription receives the events of its types in log order, in batches. Its handler's database effects and
the advance of its checkpoint commit in one transaction, and the advance is conditional: it succeeds only
from the position the runner read and only for the runner holding the lease. So a crash between the two
replays nothing twice and loses nothing (pyeventsourcing's tracking records give the same guarantee with a
unique row per applied position), and two runners can never both apply a batch.

A handler that raises parks its subscription alone: the failing event, the error and the number of attempts
are recorded, it is retried with backoff, and the other subscriptions, appends and sockets go on. An
operator resumes it after fixing the cause, or skips the event, which is recorded (`SkippedEvent`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from hub import log
from hub.errors import ApplicationError, NotFound
from hub.events import RecordedEvent
from hub.models import SkippedEvent, StoredEvent, Subscription, SubscriptionState
from hub.storable import text_problem, unseen_character
from hub.versions import outdated_sentence, version_of

logger = logging.getLogger(__name__)
BATCH = 500
MAX_BACKOFF_SECONDS = 300
EAGER = "eager"  # the lease owner of subscriptions applied in place (apply_eagerly)


class Handler(Protocol):
    """What a subscription runs: it applies events of its types, touching only its own tables."""

    name: str
    types: frozenset[str]

    def apply_all(self, events: list[RecordedEvent]) -> None:
        """Apply events (in log order, all of handled types) in the caller's transaction."""

    def reset(self) -> None:
        """Delete every row the handler owns (a rebuild replays the log into them)."""

    # Optional, as for projectors: `version` (an int, 1 if absent: raise it whenever a change would make
    # different rows of the same events); `replaying()`, a context manager around a rebuild's pages; `tables`,
    # the models (children first) it alone writes: a handler that declares them can be rebuilt online
    # (hub.rebuild.online).


class LeaseLost(ApplicationError):
    """Another runner holds the subscription now, or moved it on: this runner's batch is rolled back."""


class NotParked(ApplicationError):
    """Only a parked subscription can be resumed, and only its failed event skipped (with a reason)."""


_handlers: dict[str, Handler] = {}


def register_subscription(handler: Handler) -> Handler:
    _handlers[handler.name] = handler
    return handler


def unregister_subscription(name: str) -> None:
    """Forget a subscription (for tests that register a temporary one)."""
    _handlers.pop(name, None)


def registered() -> list[str]:
    return list(_handlers)


def handlers() -> list[Handler]:
    return list(_handlers.values())


def positions(names: list[str]) -> dict[str, int]:
    """How far each of these subscriptions has applied the log (0 for one that has not started)."""
    found = dict(Subscription.objects.filter(name__in=names).values_list("name", "position"))
    return {name: found.get(name, 0) for name in names}


def skipped(names: list[str]) -> dict[str, set[int]]:
    """The positions operators told each of these subscriptions to skip (`skip`). A rebuild skips them too:
    it must give what the runner did, and the event that made the runner park makes the rebuild fail."""
    found: dict[str, set[int]] = {name: set() for name in names}
    rows = SkippedEvent.objects.filter(subscription__in=names).values_list("subscription", "position")
    for name, position in rows:
        found[name].add(position)
    return found


def hold_for_rebuild(names: list[str]) -> None:
    """Lock these subscriptions' rows until the caller's transaction ends: a runner's batch meanwhile waits
    at its checkpoint advance, then finds the position moved and rolls back."""
    ensure_rows(names)
    list(Subscription.objects.select_for_update().filter(name__in=names).order_by("name").values_list("name"))


def set_positions(names: list[str], position: int) -> None:
    """Say that these subscriptions have applied the log up to `position` (after a rebuild), running, and
    built by their handlers' current versions."""
    for name in names:
        Subscription.objects.filter(name=name).update(**_running_from(position), built_version=_version(name))


def _running_from(position: int) -> dict[str, object]:
    """A subscription's fields once it runs again from `position`, its last failure cleared."""
    return {
        "position": position,
        "state": SubscriptionState.RUNNING,
        "failed_position": None,
        "last_error": "",
        "attempts": 0,
        "retry_at": None,
    }


def _version(name: str) -> int:
    return version_of(_handlers[name]) if name in _handlers else 1


def apply_eagerly() -> None:
    """Apply every subscription now, in the caller's transaction (THREADLINE_SUBSCRIPTIONS_EAGER: test runs
    and tools without a runner, the way Celery's task_always_eager runs tasks in place)."""
    ttl = timedelta(seconds=60)
    for name in _handlers:
        ensure_rows([name])
        if acquire(name, EAGER, ttl):
            while process(name, EAGER):
                pass


def ensure_rows(names: list[str]) -> None:
    """Create the state rows of new subscriptions (at position 0, so built by their current versions)."""
    Subscription.objects.bulk_create(
        [Subscription(name=n, built_version=_version(n)) for n in names], ignore_conflicts=True
    )


# --- leases -------------------------------------------------------------------------------------------------


def acquire(name: str, owner: str, ttl: timedelta) -> bool:
    """Take or renew the lease on a subscription; False if another runner's lease is still valid."""
    now = timezone.now()
    free = Q(lease_owner=owner) | Q(lease_owner="") | Q(lease_until__lt=now)
    taken = Subscription.objects.filter(Q(name=name) & free).update(lease_owner=owner, lease_until=now + ttl)
    return taken == 1


def release(name: str, owner: str) -> None:
    Subscription.objects.filter(name=name, lease_owner=owner).update(lease_owner="", lease_until=None)


# --- applying -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pass:
    moved: int  # log positions passed, all the subscriptions together
    more: bool  # the log read was full: more may be waiting already


def _runnable(row: Subscription, owner: str, now: datetime) -> bool:
    if row.lease_owner != owner or (row.lease_until is not None and row.lease_until < now):
        return False
    return not (row.state == SubscriptionState.PARKED and row.retry_at is not None and row.retry_at > now)


def process_held(names: list[str], owner: str, *, limit: int = BATCH) -> Pass:
    """Apply the next batch of each of these subscriptions this runner leases, from ONE read of the log.

    A runner's pass: the subscriptions' rows in one query, the head once, one page of the log from the
    lowest of their positions (of the types any of them handles), and each subscription applies its own
    events of the page with its conditional advance in a savepoint of its own, in one transaction for the
    pass (see below), as `process` does one by one.
    Under steady traffic the subscriptions stand at the same position, so one read serves them all (it was
    one read, one head and one row per subscription, twice per wake-up). `more` is True only when the page
    was full: otherwise every event up to the head was in it, and the runner may sleep until the next NOTIFY.
    """
    now = timezone.now()
    # The rows and the head in one round trip; the head is read with (so before) the page below: every
    # event up to it has committed (appends commit in position order), so a page that comes back short holds
    # every event of these types between the lowest position and the head.
    rows, head = _rows_and_head(names)
    rows = [row for row in rows if _runnable(row, owner, now)]
    if not rows:
        return Pass(0, False)
    start = min(row.position for row in rows)
    if start >= head:
        return Pass(0, False)
    types = sorted(set().union(*(_handlers[row.name].types for row in rows)))
    page = log.read_after(start, limit=limit, types=types)
    full = len(page) == limit
    target = page[-1].position if full else max(head, page[-1].position if page else 0)
    moved = 0
    idle: list[Subscription] = []
    failed: list[tuple[Handler, Subscription, list[RecordedEvent]]] = []
    # One transaction for the pass, a savepoint per subscription: each subscription's writes and its
    # checkpoint's advance still commit together or not at all, and a handler that raises rolls back its
    # own savepoint alone. One COMMIT a pass instead of one per subscription (each a WAL flush): under
    # single-event traffic most of a pass was its commits. Rows go in name order, as hold_for_rebuild
    # locks them, so a rebuild's hold and a pass never wait on each other in a cycle.
    with transaction.atomic():
        for row in sorted(rows, key=lambda r: r.name):
            if target <= row.position:
                continue
            handler = _handlers[row.name]
            events = [e for e in page if e.position > row.position and e.type in handler.types]
            if not events:
                idle.append(row)  # nothing to apply: only its checkpoint moves
                continue
            try:
                _apply(handler, owner, row.position, target, events)
            except LeaseLost:
                continue
            except Exception:
                failed.append((handler, row, events))
                continue
            moved += target - row.position
        for row in idle:
            moved += (target - row.position) * _advance_rows(row.name, owner, row.position, target)
    # A failing batch is retried one event at a time, each in its own transaction, to park on the one
    # that fails; the others' work above has committed already.
    for handler, row, events in failed:
        moved += _one_by_one(handler, owner, row, events)
    return Pass(moved, full)


def _rows_and_head(names: list[str]) -> tuple[list[Subscription], int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, position, state, lease_owner, lease_until, retry_at,"
            " (SELECT COALESCE(MAX(position), 0) FROM hub_event)"
            f" FROM hub_subscription WHERE name IN ({', '.join(['%s'] * len(names))})",
            names,
        )
        found = cursor.fetchall()
    rows = [
        Subscription(
            name=name,
            position=position,
            state=state,
            lease_owner=lease_owner,
            lease_until=_aware(lease_until),
            retry_at=_aware(retry_at),
        )
        for name, position, state, lease_owner, lease_until, retry_at, _ in found
    ]
    return rows, (found[0][6] if found else 0)


def _aware(value: datetime | str | None) -> datetime | None:
    """A time read with plain SQL: SQLite gives it as text (Django keeps it naive, in UTC)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def process(name: str, owner: str, *, limit: int = BATCH) -> int:
    """Apply the next batch of a subscription this runner leases; return how many log positions it passed.

    Returns 0 when there is nothing new, when the lease is someone else's, or while a parked subscription
    waits for its next attempt.
    """
    handler = _handlers[name]
    row = Subscription.objects.get(name=name)
    now = timezone.now()
    if row.lease_owner != owner or (row.lease_until is not None and row.lease_until < now):
        return 0
    if row.state == SubscriptionState.PARKED and row.retry_at is not None and row.retry_at > now:
        return 0
    # The head first: every event up to it has committed (appends commit in position order), so when the
    # read below comes back short, nothing of ours lies between its last event and the head.
    head = log.last_position()
    events = log.read_after(row.position, limit=limit, types=handler.types)
    full = len(events) == limit
    target = events[-1].position if full else max(head, events[-1].position if events else 0)
    if target <= row.position:
        return 0
    try:
        _apply(handler, owner, row.position, target, events)
    except LeaseLost:
        return 0
    except Exception:
        # Find the event that fails: apply one at a time (each with its own advance), then park on it.
        return _one_by_one(handler, owner, row, events)
    return target - row.position


def _apply(handler: Handler, owner: str, start: int, target: int, events: list[RecordedEvent]) -> None:
    with transaction.atomic():
        if events:
            handler.apply_all(events)
        _advance(handler.name, owner, start, target)


def _advance(name: str, owner: str, start: int, target: int) -> None:
    """Move the checkpoint from `start` to `target`, in the handler's transaction; clear a past failure.

    Conditional on the position read and the lease: if another runner took over and moved on, nothing
    changes and the handler's writes roll back with the transaction.
    """
    if _advance_rows(name, owner, start, target) != 1:
        raise LeaseLost(f"subscription {name} is no longer at {start} under this runner's lease")


# The failure a parked subscription records is cleared only by an advance that passes the event it failed on.
# A pass reads one page for all of a runner's subscriptions from the lowest position among them, so a page
# can end before that event: a parked subscription with none of its events in the page moved its checkpoint
# there and was marked running, its error, attempts and backoff cleared, while still stuck before the same
# event (`skip` then refused it as running, and the backoff never grew past 2 s).
_PASSED = "(failed_position IS NULL OR failed_position <= %s)"
_ADVANCE = (
    "UPDATE hub_subscription SET position = %s,"
    f" state = CASE WHEN {_PASSED} THEN %s ELSE state END,"
    f" last_error = CASE WHEN {_PASSED} THEN '' ELSE last_error END,"
    f" attempts = CASE WHEN {_PASSED} THEN 0 ELSE attempts END,"
    f" retry_at = CASE WHEN {_PASSED} THEN NULL ELSE retry_at END,"
    f" failed_position = CASE WHEN {_PASSED} THEN NULL ELSE failed_position END,"
    " updated_at = %s"
    " WHERE name = %s AND position = %s AND lease_owner = %s"
)


def _advance_rows(name: str, owner: str, start: int, target: int) -> int:
    # Plain SQL: on a runner's every pass, the ORM's compiling of this UPDATE cost more than running it.
    with connection.cursor() as cursor:
        cursor.execute(
            _ADVANCE,
            [target, target, SubscriptionState.RUNNING, *[target] * 4, timezone.now(), name, start, owner],
        )
        return cursor.rowcount


def _one_by_one(handler: Handler, owner: str, row: Subscription, events: list[RecordedEvent]) -> int:
    position = row.position
    for event in events:
        try:
            _apply(handler, owner, position, event.position, [event])
        except LeaseLost:
            break
        except Exception as exc:
            _park(handler.name, owner, position, event.position, exc)
            break
        position = event.position
    return position - row.position


def _park(name: str, owner: str, at: int, position: int, exc: Exception) -> None:
    """Park the subscription on the event at `position`, if it still stands at `at` under this runner's
    lease: a batch that read its position before an online rebuild swapped the tables (hub.rebuild.online)
    may fail on the new ones, and must not park a subscription that has moved on without it."""
    error = f"{exc.__class__.__name__}: {exc}"[:2000]
    with transaction.atomic():
        # The row locked while its attempts are counted: a `resume` committed between an unlocked read and
        # the UPDATE was overwritten with the old count's backoff (up to 300 s), not the retry it asked for.
        row = Subscription.objects.select_for_update().get(name=name)
        attempts = row.attempts + 1 if row.failed_position == position else 1
        wait = min(2**attempts, MAX_BACKOFF_SECONDS)
        parked = Subscription.objects.filter(name=name, lease_owner=owner, position=at).update(
            state=SubscriptionState.PARKED,
            failed_position=position,
            last_error=error,
            attempts=attempts,
            retry_at=timezone.now() + timedelta(seconds=wait),
        )
    if parked:
        # The error as the row keeps it (a KeyError's own text is just the key), and what comes next.
        logger.error(
            "subscription %s parked at position %s (attempt %s): %s; retried in %s s, or now after a fix with"
            " manage.py subscriptions resume %s",
            name,
            position,
            attempts,
            error,
            wait,
            name,
        )


# --- operators ----------------------------------------------------------------------------------------------


def _locked_row(name: str) -> Subscription:
    """The subscription's row, locked; NotFound for a name no row has, or none could have (text that cannot
    be stored, such as a terminal's bytes that are not UTF-8, is not sent to the database)."""
    storable = text_problem(name) is None
    if storable and name in _handlers:
        ensure_rows([name])  # registered, but no runner has started it yet
    row = Subscription.objects.select_for_update().filter(name=name).first() if storable else None
    if row is None:
        raise NotFound(f"no subscription {name}")
    return row


def resume(name: str) -> Subscription:
    """Retry a parked subscription now (after its cause was fixed)."""
    with transaction.atomic():
        row = _locked_row(name)
        if row.state != SubscriptionState.PARKED:
            raise NotParked(f"subscription {name} is {row.state}: only a parked subscription can be resumed")
        Subscription.objects.filter(name=name).update(retry_at=None, attempts=0)
    return Subscription.objects.get(name=name)


def skip(name: str, position: int, *, reason: str) -> SkippedEvent:
    """Skip the event a parked subscription failed on, recording who decided it and why."""
    if not reason.strip():
        raise NotParked("say why the event is skipped (--reason): the reason is kept with the record")
    if problem := text_problem(reason):
        raise NotParked(f"the reason {problem}")
    # Kept, and printed to the next operator's terminal on one line: an escape sequence would act there, a
    # line break would print what looks like another row, a direction override would reorder the row.
    control = unseen_character(reason, allowed="\t")
    if control is not None:
        raise NotParked(
            f"the reason holds a control character (U+{ord(control):04X}); write it as plain text on one line"
        )
    with transaction.atomic():
        row = _locked_row(name)
        if row.state != SubscriptionState.PARKED or row.failed_position != position:
            raise NotParked(
                f"subscription {name} is {row.state}"
                + (f" at failed position {row.failed_position}" if row.failed_position else "")
                + f"; only the event it is parked on can be skipped, not {position}"
            )
        skipped = SkippedEvent.objects.create(
            subscription=name, position=position, error=row.last_error, reason=reason
        )
        Subscription.objects.filter(name=name).update(**_running_from(position))
    return skipped


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    state: str
    attempts: int
    failed_position: int | None
    error: str
    retry_at: datetime | None
    runner: str
    version: int  # the handler's
    built_version: int  # the handler's version that built its rows (older: rebuild it)

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "retry_at": self.retry_at.isoformat() if self.retry_at else None}


def status(names: list[str] | None = None) -> list[Status]:
    """Each subscription's position, lag (events and seconds behind the head), state and last failure."""
    names = names if names is not None else registered()
    head = log.last_position()
    now = timezone.now()
    # Read only (a GET and the list command ask, perhaps of a replica): a subscription no runner has
    # started yet has no row, and is shown as the row a runner would create for it (ensure_rows).
    stored = {row.name: row for row in Subscription.objects.filter(name__in=names)}
    result = []
    for name in sorted(set(names)):
        row = stored.get(name) or Subscription(name=name, built_version=_version(name))
        behind = StoredEvent.objects.filter(position__gt=row.position)
        oldest = behind.order_by("position").values_list("recorded_at", flat=True).first()
        lease_live = row.lease_owner and row.lease_until is not None and row.lease_until >= now
        result.append(
            Status(
                name=row.name,
                position=row.position,
                head=head,
                lag_events=behind.count() if oldest else 0,
                lag_seconds=round((now - oldest).total_seconds(), 3) if oldest else 0.0,
                state=row.state,
                attempts=row.attempts,
                failed_position=row.failed_position,
                error=row.last_error,
                retry_at=row.retry_at,
                runner=row.lease_owner if lease_live else "",
                version=_version(row.name),
                built_version=row.built_version,
            )
        )
    return result


def outdated(statuses: list[Status]) -> list[str]:
    """A sentence for each subscription whose rows an older version of its handler built. It goes on
    applying the log meanwhile (stale rows serve better than none), but its rows mix what both versions
    made until an online rebuild replaces them."""
    return [
        outdated_sentence(
            "subscription",
            row.name,
            row.built_version,
            row.version,
            f"manage.py rebuild_projections --online {row.name}",
        )
        for row in statuses
        if row.built_version < row.version
    ]


def parked(statuses: list[Status]) -> list[str]:
    """A sentence for each parked subscription: its read model stops before the event it cannot apply while
    the log goes on, until an operator resumes it (after fixing the cause) or skips that event."""
    return [
        f"subscription {row.name} is parked on the event at position {row.failed_position}"
        f" ({row.attempts} attempt{'s' if row.attempts != 1 else ''}; its error is under the subscription):"
        f" its read model stays at position {row.position} while the log goes on; fix the cause and run"
        f" manage.py subscriptions resume {row.name}, or skip the event with manage.py subscriptions skip"
        f" {row.name} {row.failed_position} --reason '...'"
        for row in statuses
        if row.state == SubscriptionState.PARKED
    ]


def unattended(statuses: list[Status]) -> list[str]:
    """A sentence for each subscription no runner holds (its lease lapsed or was given back): its state may
    say running, but nothing applies the log to it until a runner takes it. None when each append applies
    them in place (THREADLINE_SUBSCRIPTIONS_EAGER)."""
    if settings.THREADLINE_SUBSCRIPTIONS_EAGER:
        return []
    warnings = []
    for row in statuses:
        if row.runner:
            continue
        if row.lag_events:
            many = row.lag_events != 1
            behind = (
                f"{row.lag_events} event{'s' if many else ''} ({row.lag_seconds:.0f} s) behind the head"
                f" {'are' if many else 'is'} not being applied"
            )
        else:
            behind = "new events will not be applied"
        warnings.append(
            f"no runner holds subscription {row.name}: {behind}; start manage.py run_subscriptions"
        )
    return warnings
