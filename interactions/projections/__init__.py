"""Projections: one projector per read model (customers, threads and timelines, callbacks, follow-ups,
presence, reachability, next-best-action take-up, experience measures).

Each owns its tables and its checkpoint: a projector that cannot apply an event stops alone, and the others,
the log and placement go on. The read models people and integrations read (customers, threads, presence) are
durable subscriptions applied by runner processes, off the request's path; the callbacks table is applied
inline, in the append's transaction, because the callback commands and the dispatcher decide from it (it is
the callbacks' write model, as placement's tables are the write model of identities and threads); so is the
follow-ups table, which the close and callback commands and the SLA task decide from.
"""

from __future__ import annotations

from hub.rows import RowProjector
from interactions.projections.analytics import AnalyticsProjector
from interactions.projections.callbacks import CallbacksProjector
from interactions.projections.customers import CustomersProjector
from interactions.projections.followups import FollowupsProjector
from interactions.projections.nba import NbaTakeUpProjector
from interactions.projections.presence import PresenceProjector
from interactions.projections.reachability import ReachabilityProjector
from interactions.projections.threads import ThreadsProjector


def inline() -> list[RowProjector]:
    """The projectors applied in the append's transaction (write models)."""
    return [CallbacksProjector(), FollowupsProjector()]


def subscribed() -> list[RowProjector]:
    """The read models applied by runner processes, as subscriptions."""
    return [
        CustomersProjector(),
        ThreadsProjector(),
        PresenceProjector(),
        ReachabilityProjector(),
        NbaTakeUpProjector(),
        AnalyticsProjector(),
    ]
