"""Read your writes: how far the read models behind a read have applied the log, and waiting for them.

A write answers with its log position; a read that passes it as `min_position` is answered once every read
model it comes from has applied at least that far, or, past a bound, refused with NotCaughtUp (the HTTP
interface answers 503 with Retry-After), never with data older than the client's own write.
"""

from __future__ import annotations

import time
from functools import cache

from django.db import connection

from hub import projections
from hub.errors import ApplicationError
from hub.models import ProjectionCheckpoint, StoredEvent, Subscription

POLL_SECONDS = 0.02


class NotCaughtUp(ApplicationError):
    """The read models behind a read have not yet applied the position the client asked for."""

    def __init__(self, wanted: int, position: int) -> None:
        super().__init__(
            f"the read models have applied the log up to position {position}, not yet {wanted}; retry",
            extra={"min_position": wanted, "position": position},
        )


@cache
def _positions_sql(count: int) -> str:
    """One statement for what every read from read models asks first (it was three ORM queries, each a round
    trip and a compilation: about 1.5 ms of a 15 ms context read in process): the inline projectors'
    checkpoints, the subscriptions' positions and the log's head, read in one snapshot."""
    names = ", ".join(["%s"] * count)
    checkpoints, subscriptions, log = (
        connection.ops.quote_name(m._meta.db_table) for m in (ProjectionCheckpoint, Subscription, StoredEvent)
    )
    return (
        f"SELECT 'c', name, position, last_error FROM {checkpoints} WHERE name IN ({names})"
        f" UNION ALL SELECT 's', name, position, '' FROM {subscriptions} WHERE name IN ({names})"
        f" UNION ALL SELECT 'h', '', COALESCE(MAX(position), 0), '' FROM {log}"
    )


def position(names: list[str]) -> int:
    """The log position that every one of these read models (inline projectors or subscriptions) has
    applied: the lowest of their positions. A healthy inline projector has applied the log's head (it is
    written with every append); a failed one, its checkpoint; a read model with no row yet, nothing."""
    with connection.cursor() as cursor:
        cursor.execute(_positions_sql(len(names)), [*names, *names])
        rows = cursor.fetchall()
    head = next(position for kind, _, position, _ in rows if kind == "h")
    inline = projections.inline_names()
    found = {name: position if error else head for kind, name, position, error in rows if kind == "c"}
    found = {name: position for name, position in found.items() if name in inline}
    found.update((name, position) for kind, name, position, _ in rows if kind == "s")
    return min(found.get(name, 0) for name in names)


def wait_for(names: list[str], wanted: int | None, *, timeout: float) -> int:
    """The read models' position once it is at least `wanted` (None: at once); NotCaughtUp after `timeout`."""
    reached = position(names)
    if wanted is None or reached >= wanted:
        return reached
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        reached = position(names)
        if reached >= wanted:
            return reached
    raise NotCaughtUp(wanted, reached)
