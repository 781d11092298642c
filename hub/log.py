"""Read the log (after a position, a stream, its head) and the locks that keep appends in position order."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Max, OuterRef, Subquery

from hub.backends import backend
from hub.backends.base import OnUnreadable, stored_to_recorded
from hub.backends.base import is_deadlock as is_deadlock  # re-exported for callers outside hub
from hub.backends.base import is_lock_timeout as is_lock_timeout
from hub.events import NO_STREAM, RecordedEvent
from hub.models import StoredEvent

# PostgreSQL NOTIFY channel: a wake-up for log tailers, delivered when (and only if) the append commits.
LOG_CHANNEL = "threadline_log"


def append_lock() -> None:
    """Make appends commit in position order. Call inside a transaction; the lock ends with it.

    Why: on PostgreSQL a position (identity value) is handed out at INSERT but becomes visible at COMMIT. With
    concurrent writers, a transaction holding position 10 can commit after one holding 11; a reader that
    already moved past 11 would never see 10 (measured: a reader polling `position > last` behind eight
    writers missed 46% of the events). Readers use `after=<position>` as their cursor (API, websockets,
    projections), so positions must become visible in order. A transaction-scoped advisory lock makes one
    append at a time take positions and commit; PostgreSQL releases it only after the commit is visible, so
    the next writer's positions are always higher than anything a reader can still be missing. It is taken
    as late as possible (just before the log INSERT) and held only for a few short statements.

    SQLite needs nothing here: its transactions are IMMEDIATE (see settings), so a writer holds the
    database's single write lock from BEGIN to COMMIT.

    Callers that must decide what to append from state the log protects take it first, read, then append:
    a second call in the same transaction is free.
    """
    backend().append_lock()


def lock_keys(namespace: int, keys: Iterable[str]) -> None:
    """Transaction-scoped locks on application keys (say, the identifiers an ingest will place).

    Lets callers serialise work on the same keys without holding the global append lock. Keys are taken in
    sorted order so that two transactions never wait for each other in a cycle. SQLite needs nothing: its
    IMMEDIATE transactions already serialise writers.
    """
    wanted = sorted({str(k) for k in keys})
    if wanted:
        backend().lock_keys(namespace, wanted)


def lock_timeout(milliseconds: int) -> None:
    """How long each lock the caller's transaction asks for from now on may wait (0: for ever), until it
    ends; a longer wait raises an OperationalError that `is_lock_timeout` (imported here from the backends,
    with `is_deadlock`, for callers outside hub) recognises. SQLite: nothing."""
    backend().lock_timeout(milliseconds)


def waiting_at_most(milliseconds: int):
    """A block whose transactions wait at most this long for the database itself, where the database has
    one write lock (SQLite: its busy timeout, 20 s by default, a BEGIN included); then `is_lock_timeout`.
    PostgreSQL: nothing (see `lock_timeout`)."""
    return backend().waiting_at_most(milliseconds)


def try_lock_key(namespace: int, key: str) -> bool:
    """Take a transaction-scoped lock on one application key if it is free; False if another holds it."""
    return backend().try_lock_key(namespace, key)


def existing(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RecordedEvent]:
    """The events already in the log among these (source, id) pairs."""
    wanted = set(keys)
    return backend().existing(wanted) if wanted else {}


def read_after(
    position: int = 0,
    *,
    limit: int = 1000,
    types: Iterable[str] | None = None,
    source_prefix: str | None = None,
    on_unreadable: OnUnreadable | None = None,
) -> list[RecordedEvent]:
    """Events with a position above `position`, in log order, at most `limit` (fewer only at the end).

    Every reader of the log pages through here: the API, websocket replays, the tailer, projections and
    rebuilds. A row that cannot be decoded is left out and reading goes on past it, for every reader alike:
    `on_unreadable(position, error)` is told of it (by default, an error in the process's log). Leaving it
    out rather than failing is the choice: the row can never be changed or removed, so a reader that
    stopped at it would stay stopped, and every socket of the process with it.
    """
    return backend().read_after(
        position, limit=limit, types=types, source_prefix=source_prefix, on_unreadable=on_unreadable
    )


def read_stream(stream: str, *, after_version: int = 0, limit: int | None = None) -> list[RecordedEvent]:
    """A stream's events in version order."""
    query = StoredEvent.objects.filter(stream=stream, stream_version__gt=after_version).order_by(
        "stream_version"
    )
    if limit is not None:
        query = query[:limit]
    return [stored_to_recorded(row) for row in query]


def stream_version(stream: str) -> int:
    """The stream's current version, 0 if it has no events."""
    return StoredEvent.objects.filter(stream=stream).aggregate(v=Max("stream_version"))["v"] or NO_STREAM


def last_events(streams: Iterable[str]) -> dict[str, RecordedEvent]:
    """Each of these streams' last event, as the log holds it now (a stream with none is left out): one
    query a chunk, however many streams."""
    wanted = sorted(set(streams))
    found: dict[str, RecordedEvent] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        # Each stream's row at its own last version, by the (stream, version) index: matching every
        # stream's last version against every stream fetched about n²/2 rows for n streams.
        last = StoredEvent.objects.filter(stream=OuterRef("stream")).order_by("-stream_version")
        rows = StoredEvent.objects.filter(
            stream__in=chunk, stream_version=Subquery(last.values("stream_version")[:1])
        )
        found.update((row.stream, stored_to_recorded(row)) for row in rows)
    return found


# SQLite refuses statements with too many parameters: streams are asked for in chunks well below its limit.
_CHUNK = 400


def positions_of(versions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The log positions of events named by (stream, stream version); missing ones are left out."""
    wanted = set(versions)
    if not wanted:
        return {}
    rows = StoredEvent.objects.filter(
        stream__in={stream for stream, _ in wanted}, stream_version__in={version for _, version in wanted}
    ).values_list("stream", "stream_version", "position")
    return {(stream, version): position for stream, version, position in rows if (stream, version) in wanted}


def last_position() -> int:
    """The highest committed position, 0 for an empty log."""
    return backend().last_position()


def count() -> int:
    """How many events the log holds (positions may have gaps: a sequence skips what rolled back)."""
    return StoredEvent.objects.count()
