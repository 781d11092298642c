"""Projection machinery: registered projectors, their checkpoints, catching up inline and rebuilding."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from typing import Protocol

from django.db import connection, transaction

from hub import log
from hub.events import RecordedEvent
from hub.models import ProjectionCheckpoint

logger = logging.getLogger(__name__)
PAGE = 1000
# A rebuild hands projectors bigger pages: a row that many events change (a busy thread, a regular
# customer) is then written once per page, not once per thousand events. Bounded, so memory stays flat.
REBUILD_PAGE = 25_000


class Projector(Protocol):
    """Turns log events into read-model rows. `apply` touches only the projector's own tables."""

    name: str
    types: frozenset[str]

    def apply_all(self, events: list) -> None:
        """Apply events (in log order, all of handled types) as one unit of work."""

    def reset(self) -> None:
        """Delete every read-model row the projector owns."""

    # Optional: `replaying()`, a context manager around a rebuild's pages. Inside it nothing else writes
    # (the rebuild holds the append lock), so a projector may keep rows in memory from one page to the next;
    # it must have written them all when the block ends without an error.


_projectors: dict[str, Projector] = {}


def register_projector(projector: Projector) -> Projector:
    _projectors[projector.name] = projector
    return projector


def projectors() -> list[Projector]:
    return list(_projectors.values())


def _checkpoint(name: str, *, for_update: bool = False) -> ProjectionCheckpoint:
    query = ProjectionCheckpoint.objects
    if for_update:
        query = query.select_for_update()
    checkpoint, _ = query.get_or_create(name=name)
    return checkpoint


def _page(after: int, size: int = PAGE) -> list[RecordedEvent]:
    return log.read_after(after, limit=size)


def _apply_from(projector: Projector, after: int) -> int:
    """Apply every event after `after`, page by page; return the last position applied."""
    position = after
    while True:
        events = _page(position)
        _apply(projector, events)
        if events:
            position = events[-1].position
        if len(events) < PAGE:
            return position


def _apply(projector: Projector, events: list) -> None:
    handled = [event for event in events if event.type in projector.types]
    if handled:
        projector.apply_all(handled)


def _one(sql: str, params: list) -> tuple | None:
    """One row of a plain statement. The per-append bookkeeping below runs under the append lock on every
    append, where compiling ORM queries cost more than running them."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _current(name: str, before: int | None = None) -> tuple[int, str, int | None]:
    """A projector's checkpoint position and last error (a new projector starts at 0), and with `before`
    the log position preceding it (0 for none), read in the same round trip."""
    previous = "(SELECT COALESCE(MAX(position), 0) FROM hub_event WHERE position < %s)" if before else "NULL"
    params = [before, name] if before else [name]
    row = _one(
        f"SELECT position, last_error, {previous} FROM hub_projection_checkpoint WHERE name = %s", params
    )
    if row is None:  # a new projector: create its checkpoint at 0, then read it as any other
        _checkpoint(name)
        return _current(name, before)
    return row[0], row[1], row[2]


def _advance(name: str, position: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE hub_projection_checkpoint SET position = %s, last_error = '', failed_position = NULL"
            " WHERE name = %s",
            [position, name],
        )


def catch_up(new_events: list | None = None) -> None:
    """Bring every projector up to the end of the log. Called by `append`, inside its transaction and lock.

    `new_events` are the events this append just wrote: a projector whose checkpoint is right behind them
    (the usual case) applies them as they are, without reading them back. Otherwise (a projector that failed
    earlier, or is new) it reads the log from its checkpoint.

    A projector that raises is rolled back to its savepoint: the events stay appended (the log is the truth),
    the checkpoint stays where it was and records the failure, and the next append tries again from there.
    """
    for projector in _projectors.values():
        at, last_error, previous = _current(projector.name, new_events[0].position if new_events else None)
        try:
            with transaction.atomic():
                if new_events and not last_error and at == previous:
                    _apply(projector, new_events)
                    position = new_events[-1].position
                else:
                    position = _apply_from(projector, at)
        except Exception as exc:  # a projector bug must not lose the event being appended
            logger.exception("projection %s failed after position %s", projector.name, at)
            ProjectionCheckpoint.objects.filter(name=projector.name).update(
                last_error=f"{exc.__class__.__name__}: {exc}"[:2000], failed_position=at + 1
            )
            continue
        if position != at or last_error:
            _advance(projector.name, position)


def catch_up_if_behind() -> None:
    """Catch up only if some projection is behind the log (one cheap read when all are current)."""
    if not _projectors:
        return
    names = list(_projectors)
    (current,) = _one(
        "SELECT COUNT(*) FROM hub_projection_checkpoint WHERE last_error = '' AND name IN"
        f" ({', '.join(['%s'] * len(names))})"
        " AND position = COALESCE((SELECT MAX(position) FROM hub_event), 0)",
        names,
    )
    if current < len(_projectors):
        log.append_lock()  # catching up writes read models: one writer at a time, as for appends
        catch_up()


def rebuild(*, progress: Callable[[int], None] | None = None) -> int:
    """Drop every read model and replay the whole log. Returns the number of events replayed.

    Holds the append lock for the whole replay so that no append projects onto half-rebuilt tables:
    writers wait (on SQLite, the IMMEDIATE transaction does the same).
    """
    replayed = 0
    with transaction.atomic(), ExitStack() as replaying:
        log.append_lock()
        for projector in _projectors.values():
            projector.reset()
            if hasattr(projector, "replaying"):
                replaying.enter_context(projector.replaying())
        position = 0
        while True:
            events = _page(position, REBUILD_PAGE)
            if not events:
                break
            for projector in _projectors.values():
                _apply(projector, events)
            position = events[-1].position
            replayed += len(events)
            if progress:
                progress(len(events))
        replaying.close()  # the projectors write what they kept, before their checkpoints move
        for projector in _projectors.values():
            ProjectionCheckpoint.objects.update_or_create(
                name=projector.name,
                defaults={"position": position, "last_error": "", "failed_position": None},
            )
    return replayed


def status() -> list[dict[str, object]]:
    """Each projection's checkpoint and health, for /readyz and operators."""
    checkpoints = {c.name: c for c in ProjectionCheckpoint.objects.filter(name__in=list(_projectors))}
    return [
        {
            "name": name,
            "position": checkpoints[name].position if name in checkpoints else 0,
            "error": checkpoints[name].last_error if name in checkpoints else "",
        }
        for name in _projectors
    ]
