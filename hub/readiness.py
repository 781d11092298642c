"""Read your writes: how far the read models behind a read have applied the log, and waiting for them.

A write answers with its log position; a read that passes it as `min_position` is answered once every read
model it comes from has applied at least that far, or, past a bound, refused with NotCaughtUp (the HTTP
interface answers 503 with Retry-After), never with data older than the client's own write.
"""

from __future__ import annotations

import time

from hub import projections
from hub.errors import ApplicationError
from hub.models import Subscription

POLL_SECONDS = 0.02


class NotCaughtUp(ApplicationError):
    """The read models behind a read have not yet applied the position the client asked for."""

    def __init__(self, wanted: int, position: int) -> None:
        super().__init__(
            f"the read models have applied the log up to position {position}, not yet {wanted}; retry",
            extra={"min_position": wanted, "position": position},
        )


def position(names: list[str]) -> int:
    """The log position that every one of these read models (inline projectors or subscriptions) has
    applied: the lowest of their positions."""
    found = projections.positions(names)
    found.update(Subscription.objects.filter(name__in=names).values_list("name", "position"))
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
