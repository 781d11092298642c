"""Projection machinery: registered projectors, their checkpoints, catching up inline and rebuilding."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from django.db import connection, transaction

from hub import log
from hub.backends import backend
from hub.backends.base import LeanAppendRefused
from hub.events import RecordedEvent
from hub.models import ProjectionCheckpoint
from hub.versions import outdated_sentence, version_of

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


def _version(name: str) -> int:
    return version_of(_projectors[name]) if name in _projectors else 1


def _checkpoint(name: str, **fields: object) -> None:
    """Write a projector's checkpoint; one made now records the projector's current version, since it is
    starting on the log (hub.models.BUILT_VERSION_HELP)."""
    ProjectionCheckpoint.objects.update_or_create(
        name=name, defaults=fields, create_defaults={**fields, "built_version": _version(name)}
    )
    _changed()


def _changed() -> None:
    """A checkpoint changed: this process's reading of the inline projections' state (hub.store's
    `inline_seen`) is read again once this commits, rather than cost the next lean append a refusal. Until
    this transaction ends, what it reads of them is its own, uncommitted: `checkpoints_written()`."""
    transaction.on_commit(_forget_inline_seen)


def _forget_inline_seen() -> None:
    backend().forget_inline_seen()


def checkpoints_written() -> bool:
    """Has the current transaction changed an inline checkpoint, so that it reads them as no other
    transaction does (until it commits, or as never committed if it rolls back)? Django drops the commit
    hooks of what is rolled back, savepoints included: one of `_changed`'s still pending says so."""
    return any(hook is _forget_inline_seen for _, hook, _ in connection.run_on_commit)


def set_checkpoints(names: list[str], position: int) -> None:
    """Say that these projectors have applied the log up to `position` (after a rebuild), healthy, and
    built by their current versions."""
    for name in names:
        _checkpoint(
            name, position=position, last_error="", failed_position=None, built_version=_version(name)
        )


def outdated() -> list[str]:
    """A sentence for each inline projection whose rows an older version of its projector built."""
    built = dict(
        ProjectionCheckpoint.objects.filter(name__in=list(_projectors)).values_list("name", "built_version")
    )
    return [
        outdated_sentence("projection", name, built[name], _version(name), "manage.py rebuild_projections")
        for name in _projectors
        if name in built and built[name] < _version(name)
    ]


def failed() -> list[str]:
    """A sentence for each inline projection that failed: reads waiting for it (`min_position`) wait for the
    position it stopped at, and every append retries it from there until it applies again."""
    rows = ProjectionCheckpoint.objects.filter(name__in=list(_projectors)).exclude(last_error="")
    return [
        f"projection {name} failed on the events from position {failed_position} (its error is under the"
        f" projection): it stays at position {position}, and every append retries it from there until the"
        " cause is fixed"
        for name, position, failed_position in rows.order_by("name").values_list(
            "name", "position", "failed_position"
        )
    ]


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


def _checkpoints(names: list[str]) -> dict[str, tuple[int, str]]:
    """Each projector's checkpoint position and last error; a projector with no row is missing here."""
    found = ProjectionCheckpoint.objects.filter(name__in=names).values_list("name", "position", "last_error")
    return {name: (position, error) for name, position, error in found}


def healthy() -> bool:
    """Is every inline projector current with the log? One cheap read.

    A healthy inline projector is current by construction: it applies every append in the append's own
    transaction. Its checkpoint then only says "healthy" (no error); its position is not advanced on every
    append (that was one UPDATE under the append lock per request) and means something only when the
    projector fails or is new: it is where catching up starts.
    """
    if not _projectors:
        return True
    names = list(_projectors)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM hub_projection_checkpoint WHERE last_error = '' AND name IN"
            f" ({', '.join(['%s'] * len(names))})",
            names,
        )
        (current,) = cursor.fetchone()
    return current == len(names)


@dataclass(frozen=True)
class Failure:
    name: str
    error: str


def names() -> list[str]:
    return list(_projectors)


def apply_new(new_events: list[RecordedEvent]) -> None:
    """Apply the events a lean append is writing to every inline projector (hub.store).

    It runs before the append lock is taken, when the events' positions are not known yet (`position` is 0
    in them; projectors must not read it), and with no savepoint per projector: a projector that raises
    makes the append refuse to go on (LeanAppendRefused), the lean attempt is undone, and the locked path
    applies each projector in a savepoint and records the failure, so the event is appended all the same.
    """
    for projector in _projectors.values():
        handled = [event for event in new_events if event.type in projector.types]
        if handled:
            try:
                projector.apply_all(handled)
            except Exception as exc:
                logger.warning(
                    "projection %s failed on a lean append; appending the locked way", projector.name
                )
                raise LeanAppendRefused(f"projection {projector.name} failed: {exc}") from exc


def record_failures(failures: list[Failure], first_position: int) -> None:
    """The projectors of `failures` stop before `first_position`: appends after this one catch them up from
    there (taking the append lock first) until they apply again."""
    for failure in failures:
        _checkpoint(
            failure.name,
            position=first_position - 1,
            last_error=failure.error,
            failed_position=first_position,
        )


def catch_up(new_events: list[RecordedEvent] | None = None) -> None:
    """Bring every inline projector up to the end of the log. Called under the append lock, inside the
    append's transaction (hub.store's locked path) or before placement reads (`catch_up_if_behind`).

    A healthy projector applies only `new_events` (the events this append just wrote). A failed or new one
    (no checkpoint yet) reads the log from its checkpoint, `new_events` included, and is healthy again if
    that succeeds. A projector that raises is rolled back to its savepoint: the events stay appended, its
    checkpoint stays where it was (or, if it was healthy, moves to just before `new_events`) and records the
    failure, and the other projectors go on.
    """
    if not _projectors:
        return
    current = _checkpoints(list(_projectors))
    for projector in _projectors.values():
        at, last_error = current.get(projector.name, (0, "new"))
        try:
            with transaction.atomic():
                if not last_error:
                    handled = [event for event in new_events or [] if event.type in projector.types]
                    if handled:
                        projector.apply_all(handled)
                    continue
                position = _apply_from(projector, at)
        except Exception as exc:  # a projector bug must not lose the event being appended
            logger.exception("projection %s failed after position %s", projector.name, at)
            if last_error:
                ProjectionCheckpoint.objects.filter(name=projector.name).update(
                    last_error=f"{exc.__class__.__name__}: {exc}"[:2000], failed_position=at + 1
                )
                _changed()
            elif new_events:
                record_failures(
                    [Failure(projector.name, f"{exc.__class__.__name__}: {exc}"[:2000])],
                    new_events[0].position,
                )
            continue
        _checkpoint(projector.name, position=position, last_error="", failed_position=None)


def catch_up_if_behind() -> None:
    """Catch up only if some inline projector failed or is new (one cheap read when all are healthy)."""
    if not healthy():
        log.append_lock()  # catching up writes read models: one writer at a time, as for appends
        catch_up()


def inline_names() -> set[str]:
    """The names of the registered inline projectors."""
    return set(_projectors)


def positions(names: list[str]) -> dict[str, int]:
    """How far these inline projectors have applied the log: a healthy one, the log's head (it is written
    with every append); a failed one, its checkpoint."""
    current = _checkpoints(names)
    head = log.last_position() if any(not error for _, error in current.values()) else 0
    return {
        name: (head if not current[name][1] else current[name][0])
        for name in names
        if name in current and name in _projectors
    }


def status() -> list[dict[str, object]]:
    """Each inline projection's position, health and versions (the projector's, and the one that built its
    rows), for /readyz and operators."""
    names = list(_projectors)
    current, reached = _checkpoints(names), positions(names)
    built = dict(ProjectionCheckpoint.objects.filter(name__in=names).values_list("name", "built_version"))
    return [
        {
            "name": name,
            "position": reached.get(name, 0),
            "error": current[name][1] if name in current else "",
            "version": _version(name),
            "built_version": built.get(name, _version(name)),
        }
        for name in names
    ]
