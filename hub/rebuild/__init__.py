"""Offline rebuild: drop every read model, inline and subscribed, and replay the whole log from position 0."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from django.db import OperationalError, transaction

from hub import log, projections, subscriptions
from hub.backends import backend
from hub.errors import ApplicationError
from hub.events import RecordedEvent

# A rebuild hands projectors bigger pages: a row that many events change (a busy thread, a regular
# customer) is then written once per page, not once per thousand events. Bounded, so memory stays flat.
PAGE = 25_000


def rebuild(*, progress: Callable[[int], None] | None = None) -> int:
    """Drop every read model and replay the whole log. Returns the number of events replayed.

    Holds the append lock for the whole replay so that no append projects onto half-rebuilt tables (writers
    wait; on SQLite the IMMEDIATE transaction does the same), and the subscriptions' rows, so that a runner's
    batch meanwhile is rolled back rather than applied onto them.
    """
    inline = projections.projectors()
    subscribed = subscriptions.handlers()
    names = [h.name for h in subscribed]
    replayed = 0
    with transaction.atomic(), ExitStack() as replaying:
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
            if progress:
                progress(len(events))
        replaying.close()  # the projectors write what they kept, before their checkpoints move
        projections.set_checkpoints([p.name for p in inline], position)
        subscriptions.set_positions(names, position)
    # Every read model was emptied and written again: statements planned from the old statistics (a table
    # of ten rows, say) would scan until autovacuum analyses them, and autovacuum may be off.
    backend().analyze()
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
