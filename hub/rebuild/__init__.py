"""Offline rebuild: drop every read model, inline and subscribed, and replay the whole log from position 0."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack

from django.db import OperationalError, transaction

from hub import log, projections, subscriptions
from hub.backends import backend
from hub.backends.base import is_deadlock
from hub.errors import ApplicationError
from hub.events import RecordedEvent

# A rebuild hands projectors bigger pages: a row that many events change (a busy thread, a regular
# customer) is then written once per page, not once per thousand events. Bounded, so memory stays flat.
PAGE = 25_000

logger = logging.getLogger(__name__)


ATTEMPTS = 3  # a rebuild PostgreSQL aborts to break a deadlock starts again, this many times in all


def rebuild(*, progress: Callable[[int], None] | None = None) -> int:
    """Drop every read model and replay the whole log. Returns the number of events replayed.

    Holds the append lock for the whole replay so that no append projects onto half-rebuilt tables (writers
    wait; on SQLite the IMMEDIATE transaction does the same), and the subscriptions' rows, so that a runner's
    batch meanwhile is rolled back rather than applied onto them.

    Before those, it locks the projections' tables against writes: an append writes placement's tables
    before it asks for the append lock, and a runner writes its tables before it moves its checkpoint, so a
    rebuild that took the append lock or the subscriptions' rows first and then emptied the tables waited
    for writers that waited for it (PostgreSQL aborted the rebuild). Taking the tables first lets the
    writers under way finish, and makes the next ones wait for the rebuild. Locks taken one table after
    another can still meet a writer of two of them; PostgreSQL then aborts one side, before anything is
    replayed, and a rebuild it aborted starts again (ATTEMPTS). `progress(n)`: n more events replayed, or
    fewer when an attempt starts again (negative).
    """
    counted = [0]  # events this attempt has reported

    def counting(n: int) -> None:
        counted[0] += n
        if progress:
            progress(n)

    for attempt in range(1, ATTEMPTS + 1):
        counted[0] = 0
        try:
            replayed = _rebuild_once(counting)
        except OperationalError as exc:
            if not is_deadlock(exc) or attempt == ATTEMPTS:
                raise
            logger.warning("rebuild: aborted to break a deadlock (attempt %s); starting again", attempt)
            if progress and counted[0]:
                progress(-counted[0])
            continue
        # Every read model was emptied and written again: statements planned from the old statistics (a
        # table of ten rows, say) would scan until autovacuum analyses them, and autovacuum may be off.
        backend().analyze()
        return replayed
    raise AssertionError("unreachable")


def _rebuild_once(progress: Callable[[int], None]) -> int:
    inline = projections.projectors()
    subscribed = subscriptions.handlers()
    names = [h.name for h in subscribed]
    tables = sorted({m._meta.db_table for h in [*inline, *subscribed] for m in getattr(h, "tables", ())})
    replayed = 0
    with transaction.atomic(), ExitStack() as replaying:
        backend().lock_tables(tables)
        log.append_lock()
        subscriptions.hold_for_rebuild(names)
        skipped = subscriptions.skipped(names)  # held: no skip can be decided meanwhile
        for handler in [*inline, *subscribed]:
            handler.reset()
            if hasattr(handler, "replaying"):
                replaying.enter_context(handler.replaying())
        position = 0
        while True:
            events = log.read_after(position, limit=PAGE)
            if not events:
                break
            for handler in [*inline, *subscribed]:
                apply_page(handler, events, skipped.get(handler.name, set()))
            position = events[-1].position
            replayed += len(events)
            progress(len(events))
        replaying.close()  # the projectors write what they kept, before their checkpoints move
        projections.set_checkpoints([p.name for p in inline], position)
        subscriptions.set_positions(names, position)
    return replayed


class RebuildFailed(ApplicationError):
    """A projector could not apply a page of the log; the rebuild's transaction is rolled back."""


def apply_page(handler, events: list[RecordedEvent], skipped: set[int]) -> None:
    """Apply a page of a rebuild to one handler: the events of its types, but those an operator skipped for
    it. A handler's failure names the handler and the page, and says what to do."""
    handled = [e for e in events if e.type in handler.types and e.position not in skipped]
    if not handled:
        return
    try:
        handler.apply_all(handled)
    except OperationalError:  # the database's, not the events' (a deadlock, a lost connection)
        raise
    except Exception as exc:
        raise RebuildFailed(
            f"{handler.name} could not apply the events at positions {handled[0].position}-"
            f"{handled[-1].position} ({exc.__class__.__name__}: {exc}); nothing was changed. If it is a"
            " subscription, its runner parks on the event it cannot apply: `subscriptions` shows which, and"
            " `subscriptions skip` records the decision to skip it, which rebuilds follow too."
        ) from exc
