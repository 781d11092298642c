"""Projections: one projector per read model (customers, threads and timelines, callbacks, presence).

Each owns its tables and its checkpoint: a projector that cannot apply an event stops alone, and the others,
the log and placement go on.
"""

from __future__ import annotations

from interactions.projections.callbacks import CallbacksProjector
from interactions.projections.customers import CustomersProjector
from interactions.projections.presence import PresenceProjector
from interactions.projections.threads import ThreadsProjector
from interactions.projections.unit_of_work import RowProjector


def projectors() -> list[RowProjector]:
    """A new instance of every projector of the domain, to register with the hub."""
    return [CustomersProjector(), ThreadsProjector(), CallbacksProjector(), PresenceProjector()]
