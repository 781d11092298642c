"""Projection machinery: registered projectors, their checkpoints, catching up inline and rebuilding."""

from __future__ import annotations

import logging
from typing import Protocol

from django.db import connection, transaction

from hub import log
from hub.events import RecordedEvent
from hub.models import ProjectionCheckpoint

logger = logging.getLogger(__name__)
PAGE = 1000


class Projector(Protocol):
    """Turns log events into read-model rows. `apply_all` touches only the projector's own tables."""

    name: str
    types: frozenset[str]

    def apply_all(self, events: list[RecordedEvent]) -> None:
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


def set_checkpoints(names: list[str], position: int) -> None:
    """Say that these projectors have applied the log up to `position` (after a rebuild), healthy."""
    for name in names:
        ProjectionCheckpoint.objects.update_or_create(
            name=name, defaults={"position": position, "last_error": "", "failed_position": None}
        )


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


def _apply(projector: Projector, events: list[RecordedEvent]) -> None:
    handled = [event for event in events if event.type in projector.types]
    if handled:
        projector.apply_all(handled)


def _current(names: list[str], before: int | None = None) -> tuple[dict[str, tuple[int, str]], int | None]:
    """Each projector's checkpoint position and last error (a new projector starts at 0), and with `before`
    the log position preceding it (0 for none), read in one round trip."""
    previous = "(SELECT COALESCE(MAX(position), 0) FROM hub_event WHERE position < %s)" if before else "NULL"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT name, position, last_error, {previous} FROM hub_projection_checkpoint"
            f" WHERE name IN ({', '.join(['%s'] * len(names))})",
            [before, *names] if before else names,
        )
        rows = cursor.fetchall()
    if len(rows) < len(names):  # a new projector: create its checkpoint at 0, then read them all again
        ProjectionCheckpoint.objects.bulk_create(
            [ProjectionCheckpoint(name=name) for name in names], ignore_conflicts=True
        )
        return _current(names, before)
    return {name: (position, error) for name, position, error, _ in rows}, rows[0][3]


def _advance(names: list[str], position: int) -> None:
    if names:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE hub_projection_checkpoint SET position = %s, last_error = '', failed_position = NULL"
                f" WHERE name IN ({', '.join(['%s'] * len(names))})",
                [position, *names],
            )


def catch_up(new_events: list[RecordedEvent] | None = None) -> None:
    """Bring every projector up to the end of the log. Called by `append`, inside its transaction and lock.

    `new_events` are the events this append just wrote: a projector whose checkpoint is right behind them
    (the usual case) applies them as they are, without reading them back. Otherwise (a projector that failed
    earlier, or is new) it reads the log from its checkpoint.

    A projector that raises is rolled back to its savepoint: the events stay appended (the log is the truth),
    its checkpoint stays where it was and records the failure, the other projectors go on, and the next
    append tries it again from there. The checkpoints are read in one statement and advanced in one.
    """
    if not _projectors:
        return
    current, previous = _current(list(_projectors), new_events[0].position if new_events else None)
    advanced: list[str] = []
    head = None
    for projector in _projectors.values():
        at, last_error = current[projector.name]
        try:
            if new_events and not last_error and at == previous:
                handled = [event for event in new_events if event.type in projector.types]
                if handled:
                    with transaction.atomic():
                        projector.apply_all(handled)
                position = new_events[-1].position
            else:
                with transaction.atomic():
                    position = _apply_from(projector, at)
        except Exception as exc:  # a projector bug must not lose the event being appended
            logger.exception("projection %s failed after position %s", projector.name, at)
            ProjectionCheckpoint.objects.filter(name=projector.name).update(
                last_error=f"{exc.__class__.__name__}: {exc}"[:2000], failed_position=at + 1
            )
            continue
        if position != at or last_error:
            advanced.append(projector.name)
            head = position
    if head is not None:
        _advance(advanced, head)


def catch_up_if_behind() -> None:
    """Catch up only if some projection is behind the log (one cheap read when all are current)."""
    if not _projectors:
        return
    names = list(_projectors)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM hub_projection_checkpoint WHERE last_error = '' AND name IN"
            f" ({', '.join(['%s'] * len(names))})"
            " AND position = COALESCE((SELECT MAX(position) FROM hub_event), 0)",
            names,
        )
        (current,) = cursor.fetchone()
    if current < len(_projectors):
        log.append_lock()  # catching up writes read models: one writer at a time, as for appends
        catch_up()


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
