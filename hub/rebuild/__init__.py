"""Offline rebuild: drop every read model, inline and subscribed, and replay the whole log from position 0."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack

from django.db import DatabaseError, DataError, IntegrityError, OperationalError, transaction

from hub import log, projections, subscriptions
from hub.backends import backend
from hub.backends.base import is_deadlock, is_lock_timeout
from hub.errors import ApplicationError
from hub.events import RecordedEvent

# A rebuild hands projectors bigger pages: a row that many events change (a busy thread, a regular
# customer) is then written once per page, not once per thousand events. Bounded, so memory stays flat.
PAGE = 25_000

logger = logging.getLogger(__name__)


ATTEMPTS = 3  # a rebuild PostgreSQL aborts to break a deadlock starts again, this many times in all
# Each lock the rebuild takes before replaying waits at most this long, less than PostgreSQL's
# deadlock_timeout (1 s by default): a rebuild caught in a cycle with a writer lets go first, so PostgreSQL
# never has to abort the writer (an append answered 503, a runner's batch) to break it.
LOCK_WAIT_MS = 500
LOCK_TRIES = 120  # then it gives up, saying the tables stayed busy


def rebuild(
    *, progress: Callable[[int], None] | None = None, total: Callable[[int], None] | None = None
) -> int:
    """Drop every read model and replay the whole log. Returns the number of events replayed.

    Holds the append lock for the whole replay so that no append projects onto half-rebuilt tables (writers
    wait; on SQLite the IMMEDIATE transaction does the same), and the subscriptions' rows, so that a runner's
    batch meanwhile is rolled back rather than applied onto them.

    Before those, it locks the projections' tables against writes: an append writes placement's tables
    before it asks for the append lock, and a runner writes its tables before it moves its checkpoint, so a
    rebuild that took the append lock or the subscriptions' rows first and then emptied the tables waited
    for writers that waited for it (PostgreSQL aborted the rebuild). Taking the tables first lets the
    writers under way finish, and makes the next ones wait for the rebuild. Writers take those tables in
    other orders (an append: placement's, then callbacks'; a runner's pass: each subscription's in turn), so
    each of these locks waits at most LOCK_WAIT_MS; a rebuild that waited longer lets go of them all, pauses
    and tries again (LOCK_TRIES). Should PostgreSQL still abort it to break a deadlock, it starts again
    (ATTEMPTS). `progress(n)`: n more events replayed, or fewer when an attempt starts again (negative);
    `total(n)`: the events there are to replay, told once the locks are held (no append can add one then).
    """
    counted = [0]  # events this attempt has reported

    def counting(n: int) -> None:
        counted[0] += n
        if progress:
            progress(n)

    deadlocks = busy = 0
    while True:
        counted[0] = 0
        try:
            replayed, tables = _rebuild_once(counting, total)
        except OperationalError as exc:
            if is_lock_timeout(exc) and backend().vendor == "sqlite":
                # The database's one write lock, held past its busy timeout (20 s): by another rebuild, most
                # likely, not a writer between tables; 120 more tries would wait about 40 minutes.
                raise RebuildFailed(
                    "the database stayed locked through its busy timeout (another rebuild, or a long write?);"
                    " nothing was changed: try again"
                ) from exc
            if is_lock_timeout(exc) and busy < LOCK_TRIES - 1:
                busy += 1
                logger.info("rebuild: the read models' tables are busy (try %s); trying again", busy)
                time.sleep(min(0.05 * busy, 1.0))
            elif is_lock_timeout(exc):
                raise RebuildFailed(
                    f"the read models' tables stayed busy with writers through {LOCK_TRIES} tries; nothing"
                    " was changed: try again"
                ) from exc
            elif is_deadlock(exc) and deadlocks < ATTEMPTS - 1:
                deadlocks += 1
                logger.warning("rebuild: aborted to break a deadlock (attempt %s); starting again", deadlocks)
            else:
                raise
            if progress and counted[0]:
                progress(-counted[0])
            continue
        # Every read model was emptied and written again: statements planned from the old statistics (a
        # table of ten rows, say) would scan until autovacuum analyses them, and autovacuum may be off.
        try:
            backend().analyze(tables)
        except DatabaseError:  # the rebuild has committed; fresh statistics are a help, not a must
            logger.exception("rebuild: committed, but ANALYZE of its tables failed")
        except KeyboardInterrupt:  # the last step: a Ctrl-C here ends a rebuild that has committed
            logger.warning("rebuild: committed; its ANALYZE was interrupted (autovacuum will analyse later)")
        return replayed


def _rebuild_once(
    progress: Callable[[int], None], total: Callable[[int], None] | None
) -> tuple[int, list[str]]:
    inline = projections.projectors()
    subscribed = subscriptions.handlers()
    names = [h.name for h in subscribed]
    tables = sorted({m._meta.db_table for h in [*inline, *subscribed] for m in getattr(h, "tables", ())})
    db = backend()
    replayed = 0
    with transaction.atomic(), ExitStack() as replaying:
        db.lock_timeout(LOCK_WAIT_MS)
        db.lock_tables(tables)
        log.append_lock()
        subscriptions.hold_for_rebuild(names)
        db.lock_timeout(0)  # everything held: the replay waits for nothing of anyone else's
        skipped = subscriptions.skipped(names)  # held: no skip can be decided meanwhile
        if total:
            total(log.count())
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
    return replayed, tables


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
    except (DataError, IntegrityError) as exc:  # what the events hold, that the database refuses
        raise _failed(handler, handled, exc) from exc
    except DatabaseError:  # the database's own trouble (a deadlock, a lost connection): not the events'
        raise
    except Exception as exc:
        raise _failed(handler, handled, exc) from exc


def _failed(handler, handled: list[RecordedEvent], exc: Exception) -> RebuildFailed:
    if handler.name in {h.name for h in subscriptions.handlers()}:
        what = (
            "Its runner parks on the event it cannot apply: `subscriptions` shows which, and `subscriptions"
            " skip` records the decision to skip it, which rebuilds follow too."
        )
    else:  # an inline projection: applied in each append's transaction, it has no skip
        what = (
            f"{handler.name} is an inline projection (applied in each append's transaction): no event can be"
            " skipped for it, so the projector must be made to apply it; then run the rebuild again."
        )
    return RebuildFailed(
        f"{handler.name} could not apply the events at positions {handled[0].position}-"
        f"{handled[-1].position} ({exc.__class__.__name__}: {exc}); nothing was changed. {what}"
    )
