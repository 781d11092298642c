"""Placing under locks: the identifiers and customers of a request are locked before placement reads, so two
requests about one customer are placed one after the other; a deadlock between merges is retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError

from hub import log, projections
from hub.events import NewEvent
from interactions.locks import CUSTOMER_LOCKS, IDENTIFIER_LOCKS
from interactions.placement.rules import PlacementView, identifiers_of

T = TypeVar("T")


def retrying_deadlocks(work: Callable[[], T]) -> T:
    """Run a placing transaction; retry it if PostgreSQL aborted it to break a deadlock."""
    for attempt in range(3):
        try:
            return work()
        except OperationalError as exc:
            # Two requests merging customers in opposite orders can deadlock; PostgreSQL aborts one. Retry.
            if not log.is_deadlock(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def placement_view_locked(new_events: list[NewEvent], *, check_projections: bool = True) -> PlacementView:
    """Lock the events' identifiers and customers (inside the caller's transaction) and load what placement
    reads. Two requests about one customer are then placed one after the other.

    Placement reads the inline projections' tables: current unless a projector failed or is new, which
    `check_projections` checks first (and catches up). A caller that skips it must have the append check it
    (`store.append(..., lean_only=True)`) and place again if that refuses."""
    log.lock_keys(IDENTIFIER_LOCKS, {uri for e in new_events for uri in identifiers_of(e)})
    locked = PlacementView.customers_for(new_events)
    log.lock_keys(CUSTOMER_LOCKS, locked)
    if check_projections:
        projections.catch_up_if_behind()
    view = PlacementView.load(new_events)
    # A merge committed between the two reads can name a customer not locked yet; lock it too.
    log.lock_keys(CUSTOMER_LOCKS, view.customer_ids() - locked)
    return view
