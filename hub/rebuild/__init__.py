"""Offline rebuild: drop every read model, inline and subscribed, and replay the whole log from position 0."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from django.db import transaction

from hub import log, projections, subscriptions
from hub.backends import backend
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
                _apply(handler, events)
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


def _apply(handler, events: list[RecordedEvent]) -> None:
    handled = [event for event in events if event.type in handler.types]
    if handled:
        handler.apply_all(handled)
