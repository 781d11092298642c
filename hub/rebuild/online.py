"""Online rebuild of subscriptions (PostgreSQL): a new version of their tables, replayed from position 0 in
a shadow schema while appends, reads and runners go on against the live version, then swapped in
atomically once caught up.

How, and why this way:

1. **Copies.** The subscriptions' tables (their `tables`: models, children first) are copied empty into the
   schema `threadline_rebuild`, with the live tables' own index and constraint names
   (hub.backends.shadow). A table shared with a subscription or projector that is not being rebuilt is
   refused: the swap would change it under that one.
2. **Replay in committed pages.** Each page of the log is applied to the copies in a transaction of its
   own, with `search_path` set so that the projectors' unqualified statements write the copies, and with
   the progress row (in the shadow schema) advanced in the same transaction: a crash leaves the copies at a
   page boundary that the progress row names, and the next run resumes from there (or starts again if the
   live tables changed shape since). The copies and the progress row are UNLOGGED meanwhile, and made
   ordinary tables just before the swap (see `_prepare`). Pages never hold the append lock and never touch
   a live table, so writers never wait for a rebuild, and the runners keep applying new events to the live
   tables.
3. **Swap.** When the copies are within `SWAP_LAG` events of the head: one short transaction locks the live
   tables (ACCESS EXCLUSIVE, with a lock timeout, retried: see `shadow.lock_live`), then the
   subscriptions' rows (a runner's batch in flight finishes first: it writes the tables before it moves
   its checkpoint, and we take the tables before the rows, in the same order), applies the last events to
   the copies, moves the live tables to `threadline_retired` and the copies into the live schema, and sets
   the subscriptions' positions to the head it read. Readers of those tables wait for that transaction
   only; appends never touch them (these are asynchronous projections). A runner's batch that read its
   position before the swap fails its conditional checkpoint advance afterwards and rolls back
   (hub.subscriptions), and the runner goes on from the new position with the new tables.
4. The retired tables are dropped after the commit.

Inline projections (the callbacks' and placement's write models) are written by every append in its
transaction: a copy could only catch up with them by holding the append lock, so they rebuild offline
(`hub.rebuild.rebuild`). SQLite has no schemas to shadow tables with: see `supported()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import OperationalError, connection, transaction

from hub import log, projections, subscriptions
from hub.backends import shadow
from hub.backends.base import is_lock_timeout
from hub.errors import ApplicationError
from hub.models import Subscription
from hub.rebuild import apply_page
from hub.versions import version_of

logger = logging.getLogger(__name__)

PAGE = 25_000  # events per committed page of the replay
SWAP_LAG = 2_000  # the copies catch up outside the swap until at most this many events (or a page) remain
LOCK_TIMEOUT_MS = 500  # how long the swap waits for the live tables before it lets go and tries again
SWAP_ATTEMPTS = 40
PROGRESS = "threadline_rebuild_progress"  # the shadow's progress row per subscription, in the shadow schema

Progress = Callable[[int, int], None]  # (the position replayed up to, the head of the log)
Hook = Callable[[int], None]  # called with the page's last position, inside its transaction (tests)


class RebuildRefused(ApplicationError):
    """These subscriptions cannot be rebuilt online (the message says why and what to do instead)."""


@dataclass
class Outcome:
    names: list[str]
    tables: list[str]
    position: int = 0  # where the swapped-in tables stand
    replayed: int = 0  # events read from the log by this run
    resumed_from: int = 0  # the position an earlier, interrupted run had reached (0: started afresh)
    swap_attempts: int = 0
    swap_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def supported() -> bool:
    return shadow.supported()


def rebuildable() -> list[str]:
    """The registered subscriptions that declare their tables, so can be rebuilt online."""
    return [h.name for h in subscriptions.handlers() if getattr(h, "tables", None)]


def rebuild_online(
    names: list[str] | None = None,
    *,
    page: int | None = None,
    lag: int | None = None,
    progress: Progress | None = None,
    on_page: Hook | None = None,
) -> Outcome:
    """Rebuild these subscriptions (default: every one that declares its tables) online; see the module.

    `page`: events per committed page (default PAGE); `lag`: how close to the head the committed pages go
    before the swap applies the rest (default SWAP_LAG); `on_page` is called inside each committed page's
    transaction with its last position (tests pause or stop the rebuild there). The swap applies at most
    `lag` events (or a page, if smaller) while it holds the live tables."""
    if not supported():
        raise RebuildRefused("an online rebuild needs PostgreSQL; on SQLite rebuild offline")
    handlers, tables = _chosen(names)
    outcome = Outcome(names=[h.name for h in handlers], tables=tables)
    page = page or PAGE
    if not shadow.try_lock():
        raise RebuildRefused("another online rebuild is running (it holds the rebuild lock)")
    try:
        position = _prepare(outcome)
        lag = min(SWAP_LAG, page) if lag is None else lag
        position = _catch_up(handlers, outcome, position, page, lag, progress, on_page)
        with transaction.atomic():
            shadow.set_logged(shadow.SHADOW, tables)  # the copies and their progress, together
            shadow.analyze(shadow.SHADOW, tables)
        # Writing the copies to the WAL takes a while, and appends go on meanwhile: catch up with them again,
        # so that the swap, which holds the live tables, still applies at most `lag` events.
        position = _catch_up(handlers, outcome, position, page, lag, progress, on_page)
        _swap(handlers, outcome, position, page, progress)
        try:
            with transaction.atomic():
                shadow.drop(shadow.RETIRED)
        except KeyboardInterrupt:  # the swap has committed: the rebuild is done, whatever Ctrl-C meant
            outcome.notes.append(
                f"interrupted while dropping the old tables: they stay in {shadow.RETIRED} until the next"
                " online rebuild drops them"
            )
    finally:
        shadow.unlock()
    return outcome


def _chosen(names: list[str] | None) -> tuple[list, list[str]]:
    registered = {h.name: h for h in subscriptions.handlers()}
    names = names or rebuildable()
    unknown = [n for n in names if n not in registered]
    if unknown:
        raise RebuildRefused(f"no subscription named {', '.join(unknown)}")
    if not names:
        raise RebuildRefused("no registered subscription declares its tables: nothing to rebuild online")
    handlers = [registered[n] for n in dict.fromkeys(names)]
    undeclared = [h.name for h in handlers if not getattr(h, "tables", None)]
    if undeclared:
        raise RebuildRefused(
            f"{', '.join(undeclared)} declare no tables (a `tables` attribute of models), so cannot be"
            " rebuilt online; rebuild offline"
        )
    tables = [m._meta.db_table for h in handlers for m in h.tables]
    if len(set(tables)) != len(tables):
        raise RebuildRefused(f"two of {', '.join(h.name for h in handlers)} declare the same table")
    others = [h for h in subscriptions.handlers() if h.name not in names] + projections.projectors()
    for other in others:
        shared = set(tables) & {m._meta.db_table for m in getattr(other, "tables", ())}
        if shared:
            raise RebuildRefused(
                f"{other.name} writes {', '.join(sorted(shared))} too: rebuild it together, or offline"
            )
    return handlers, tables


# --- the shadow and its progress ----------------------------------------------------------------------------


def _prepare(outcome: Outcome) -> int:
    """Resume the shadow an interrupted run left if it is the same rebuild of same-shaped tables by the same
    versions of the projectors; otherwise start a fresh one. Returns the position the copies stand at."""
    with transaction.atomic():
        shadow.drop(shadow.RETIRED)  # a run that died between its swap and this drop
        live = shadow.live_schema(outcome.tables)
        shadow.check_movable(live, outcome.tables)
        # The tables' shape and the projectors' versions: copies half built by another version of a
        # projector would swap in rows of two versions, recorded as built by one.
        versions = {h.name: version_of(h) for h in subscriptions.handlers()}
        print_ = shadow.fingerprint(live, outcome.tables) + "".join(
            f" {name}@{versions.get(name, 1)}" for name in sorted(outcome.names)
        )
        if shadow.exists():
            found = _progress_rows()
            if set(found) == set(outcome.names) and {f for _, f in found.values()} == {print_}:
                position = min(p for p, _ in found.values())
                if len({p for p, _ in found.values()}) == 1:
                    outcome.resumed_from = position
                    return position
            outcome.notes.append(
                "an earlier rebuild's shadow did not match this one, or was emptied by a restart of"
                " PostgreSQL after a crash: started afresh"
            )
            shadow.drop(shadow.SHADOW)
        # The copies and their progress are UNLOGGED while they are replayed (THREADLINE_REBUILD_UNLOGGED,
        # default on): their rows write no WAL, and each table is written to it once, whole, just before the
        # swap (`shadow.set_logged`). Measured at 1.2M events (docs/benchmarks.md, "Unlogged copies"): the WAL
        # a rebuild writes about halves and the checkpoints during it fall from 3-4 to 1-2. If PostgreSQL
        # restarts after a crash meanwhile it empties them, progress included: the next run starts afresh.
        unlogged = settings.THREADLINE_REBUILD_UNLOGGED
        if unlogged:
            shadow.logged_order(live, outcome.tables)  # refused now, not after the whole replay
        shadow.create(shadow.SHADOW, outcome.tables, unlogged=unlogged)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE {'UNLOGGED ' if unlogged else ''}TABLE {shadow.q(shadow.SHADOW)}.{PROGRESS}"
                " (name text PRIMARY KEY,"
                " position bigint NOT NULL, fingerprint text NOT NULL, started_at timestamptz NOT NULL"
                " DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())"
            )
            cursor.executemany(
                f"INSERT INTO {shadow.q(shadow.SHADOW)}.{PROGRESS} (name, position, fingerprint)"
                " VALUES (%s, 0, %s)",
                [(name, print_) for name in outcome.names],
            )
    return 0


def _progress_rows() -> dict[str, tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(%s)", [f"{shadow.q(shadow.SHADOW)}.{PROGRESS}"]
        )  # a shadow schema without its progress table is an unfinished creation: start afresh
        if cursor.fetchone()[0] is None:
            return {}
        cursor.execute(f"SELECT name, position, fingerprint FROM {shadow.q(shadow.SHADOW)}.{PROGRESS}")
        return {name: (position, print_) for name, position, print_ in cursor.fetchall()}


def progress_of_shadow() -> dict[str, int]:
    """How far an online rebuild under way (or interrupted) has replayed, per subscription; {} if none."""
    if not supported() or not shadow.exists():
        return {}
    with transaction.atomic():
        return {name: position for name, (position, _) in _progress_rows().items()}


def _advance_progress(position: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {shadow.q(shadow.SHADOW)}.{PROGRESS} SET position = %s, updated_at = now()", [position]
        )


# --- replaying into the shadow ------------------------------------------------------------------------------


def _apply_page(handlers: list, after: int, page: int, upto: int | None = None) -> tuple[int, int]:
    """Apply the next page of the log to the copies, in the caller's transaction (with the shadow on its
    search path), with the progress row. Returns the new position and how many events were read."""
    events = log.read_after(after, limit=page)
    if upto is not None:
        events = [e for e in events if e.position <= upto]
    if not events:
        return after, 0
    # Read for each page: an operator may skip an event for a live subscription while its rebuild runs.
    skipped = subscriptions.skipped([h.name for h in handlers])
    for handler in handlers:
        apply_page(handler, events, skipped[handler.name])
    _advance_progress(events[-1].position)
    return events[-1].position, len(events)


def _catch_up(
    handlers: list,
    outcome: Outcome,
    position: int,
    page: int,
    lag: int,
    progress: Progress | None,
    on_page: Hook | None,
) -> int:
    """Replay page by page, each committed, until at most `lag` events remain to the head."""
    while True:
        head = log.last_position()
        if head - position <= lag:
            return position
        with transaction.atomic():
            shadow.write_into(shadow.SHADOW)
            position, read = _apply_page(handlers, position, page)
            if on_page:
                on_page(position)
        if not read:  # the rows left up to the head are unreadable, or not ours to read yet
            return position
        outcome.replayed += read
        if progress:
            progress(position, head)


def _swap(handlers: list, outcome: Outcome, position: int, page: int, progress: Progress | None) -> None:
    names, tables = outcome.names, outcome.tables
    live = shadow.live_schema(tables)
    # A subscription no runner has started has no row yet: without one, the swap below would set no
    # position, and the first runner would apply the whole log again onto the rebuilt tables.
    subscriptions.ensure_rows(names)
    started = time.monotonic()
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        outcome.swap_attempts = attempt
        try:
            with transaction.atomic():
                shadow.lock_live(live, tables, timeout_ms=LOCK_TIMEOUT_MS)
                # After the tables, as a runner's batch takes them (tables, then its row): no cycle.
                list(
                    Subscription.objects.select_for_update()
                    .filter(name__in=names)
                    .order_by("name")
                    .values_list("name")
                )
                head = log.last_position()  # every position up to it has committed (appends commit in order)
                path = shadow.write_into(shadow.SHADOW)  # the copies' last events
                while position < head:
                    position, read = _apply_page(handlers, position, page, upto=head)
                    if not read:
                        break
                    outcome.replayed += read
                    if progress:
                        progress(position, head)
                shadow.set_path(path)
                shadow.sync_identities(shadow.SHADOW, tables)
                if shadow.describe(shadow.SHADOW, tables) != shadow.describe(live, tables):
                    raise RebuildRefused("the shadow tables no longer match the live ones (a migration ran?)")
                shadow.swap(shadow.SHADOW, live, tables)
                shadow.drop(shadow.SHADOW)  # now only the progress table
                subscriptions.set_positions(names, max(head, position))  # and their versions
            outcome.position = max(head, position)
            outcome.swap_seconds = time.monotonic() - started
            return
        except OperationalError as exc:
            if not is_lock_timeout(exc):
                raise
            logger.info("online rebuild: the live tables are busy (attempt %s); trying again", attempt)
        # Let the readers and the runner through, then bring the copies up to the head again.
        time.sleep(min(0.05 * attempt, 1.0))
        position = _catch_up(handlers, outcome, position, page, 0, progress, None)
    raise RebuildRefused(
        f"could not lock {', '.join(tables)} for the swap in {SWAP_ATTEMPTS} attempts; the shadow is kept,"
        " run the rebuild again to resume"
    )
