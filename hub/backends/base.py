"""What every database backend of the kernel offers: the log's writes and reads, locks, wake-ups and bulk
statements for read models."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models import Max, Q

from hub.events import LOG_FIELDS, RecordedEvent, UnreadableEvent, recorded
from hub.models import StoredEvent

M = TypeVar("M", bound=models.Model)
logger = logging.getLogger(__name__)
# Told the position of a log row no reader can decode, and why; reading goes on past it.
OnUnreadable = Callable[[int, Exception], None]


def report_unreadable(position: int, exc: Exception) -> None:
    """The default for a row that cannot be read: an error in the log, with its position and why."""
    logger.error("log position %s cannot be read and is left out (%s: %s)", position, type(exc).__name__, exc)


class LeanAppendRefused(Exception):
    """A lean append cannot go on (a collision, an inline projection behind): append the locked way."""


class Backend:
    """The operations whose best form differs by database. Subclasses implement each for theirs."""

    vendor: str = ""
    # Whether committed appends wake tailers through the database (LISTEN/NOTIFY) or tailers must poll.
    notifies: bool = False

    # --- ordering and locks --------------------------------------------------------------------------------

    def append_lock(self) -> None:
        """Make this transaction's appends commit in position order (see hub.log.append_lock)."""
        raise NotImplementedError

    def lock_keys(self, namespace: int, keys: Sequence[str]) -> None:
        """Transaction-scoped locks on sorted application keys."""
        raise NotImplementedError

    def try_lock_key(self, namespace: int, key: str) -> bool:
        """A transaction-scoped lock on one key if it is free."""
        raise NotImplementedError

    def notify(self, channel: str, payload: str) -> None:
        """Wake listeners when (and only if) this transaction commits."""

    # --- the log -------------------------------------------------------------------------------------------

    def existing(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], RecordedEvent]:
        """The events already in the log among these (source, id) pairs."""
        raise NotImplementedError

    def stream_versions(
        self, streams: Sequence[str], *, reserve: int = 0
    ) -> tuple[dict[str, int], list[int]]:
        """Each existing stream's version and, where the backend reserves them, `reserve` positions."""
        raise NotImplementedError

    def write_events(self, rows: list[StoredEvent], positions: list[int]) -> None:
        """INSERT new log rows; `positions` are the ones reserved by stream_versions (may be empty)."""
        raise NotImplementedError

    # The lean append (hub.store): decide outside the append lock, then hold it for one round trip.
    # A backend that cannot do that (SQLite: one writer holds the database from BEGIN) leaves it False.
    lean_appends: bool = False

    def prepare_append(
        self, keys: set[tuple[str, str]], streams: Sequence[str]
    ) -> tuple[dict[tuple[str, str], RecordedEvent], dict[str, int]]:
        """What an append decides from, read before the append lock: the events already in the log among
        `keys`, and each existing stream's version."""
        return (self.existing(keys) if keys else {}), self.stream_versions(streams)[0]

    def inline_seen(self, inline: Sequence[str], *, keep: bool = True) -> str:
        """The state of the inline projections `inline` (their checkpoints) as last read, to pass to
        append_serialised: read before a lean append reads any projection's rows, it lets the append refuse
        if they changed meanwhile. Kept from the last reading (a refusal renews it), so usually no round
        trip. A kept reading is of committed state, read before the append's own reads: an older one only
        makes a refusal more likely. `keep=False`: the caller's transaction has changed a checkpoint, so
        what it reads is its own (uncommitted) state: read it for this caller, and keep nothing."""
        return ""

    def forget_inline_seen(self) -> None:
        """Read the inline projections' state again next time (this process has just changed it)."""

    def append_serialised(
        self, rows: list[StoredEvent], channel: str, inline: Sequence[str], seen: str, *, keep: bool = True
    ) -> tuple[list[int], datetime]:
        """Take the append lock, write `rows` at the next positions, in order, queue a wake-up on `channel`,
        all in one round trip; return the positions and when the lock was granted. Nothing is written, and
        LeanAppendRefused is raised, if a row collides with a committed one, or an inline projection of
        `inline` is failed or new, or they are no longer as `seen` (inline_seen) says: one failed, or was
        caught up or rebuilt, since this append applied them. A refusal renews the kept reading unless
        `keep` is False (see inline_seen)."""
        raise NotImplementedError

    def read_after(
        self,
        position: int,
        *,
        limit: int,
        types: Iterable[str] | None = None,
        source_prefix: str | None = None,
        on_unreadable: OnUnreadable | None = None,
    ) -> list[RecordedEvent]:
        """Events after `position` in log order, at most `limit`, fewer only at the end of the log.

        A row that cannot be decoded (a time Python cannot hold, text that is not UTF-8, data that is not a
        JSON object: what the checks on append now refuse, written before them or by hand) is handed to
        `on_unreadable` with its position, left out, and reading goes on past it: one bad row in an
        append-only log must not stop every reader for good. A page is read in one statement; only a page
        that fails is split in halves until the bad rows are found.
        """
        report = on_unreadable or report_unreadable
        types = list(types) if types is not None else None
        events: list[RecordedEvent] = []
        after = position
        while len(events) < limit:
            wanted = limit - len(events)
            try:
                rows = self.log_rows(after, limit=wanted, types=types, source_prefix=source_prefix)
                fetched = [row[0] for row in rows]
            except Exception:  # a row the driver cannot decode, or the database is away: see below
                fetched = self.log_positions(after, limit=wanted, types=types, source_prefix=source_prefix)
                if not fetched:
                    raise
                rows = self._rows_by_halves(fetched, types, source_prefix, report)
            for row in rows:
                try:
                    events.append(recorded(row))
                except UnreadableEvent as exc:
                    report(row[0], exc)
            if len(fetched) < wanted:
                break
            after = fetched[-1]
        return events

    def _rows_by_halves(
        self, positions: list[int], types: list[str] | None, source_prefix: str | None, report: OnUnreadable
    ) -> list[Sequence[Any]]:
        """The rows at `positions` that can be fetched; each one that cannot is reported."""

        def fetch() -> list[Sequence[Any]]:
            return self.log_rows(
                positions[0] - 1,
                limit=len(positions),
                upto=positions[-1],
                types=types,
                source_prefix=source_prefix,
            )

        try:
            return fetch()
        except Exception:
            if len(positions) == 1:
                # Neither a database that is away (ping raises, nothing is skipped) nor a failure that passes
                # (the row is read once more) is a bad row.
                self.ping()
                try:
                    return fetch()
                except Exception as exc:
                    report(positions[0], exc)
                    return []
        half = len(positions) // 2
        return self._rows_by_halves(positions[:half], types, source_prefix, report) + self._rows_by_halves(
            positions[half:], types, source_prefix, report
        )

    def log_rows(
        self,
        after: int,
        *,
        limit: int,
        upto: int | None = None,
        types: list[str] | None = None,
        source_prefix: str | None = None,
    ) -> list[Sequence[Any]]:
        """The values of LOG_FIELDS of the rows after `after` (up to `upto`), in position order."""
        raise NotImplementedError

    def log_positions(
        self, after: int, *, limit: int, types: list[str] | None = None, source_prefix: str | None = None
    ) -> list[int]:
        """The positions alone of the rows `log_rows` would return (nothing to decode but integers)."""
        raise NotImplementedError

    def ping(self) -> None:
        """One trivial statement: raises if the database cannot be reached."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    def last_position(self) -> int:
        return StoredEvent.objects.aggregate(p=Max("position"))["p"] or 0

    def lock_timeout(self, milliseconds: int) -> None:
        """How long each lock the caller's transaction asks for from now on may wait (0: for ever), until
        the transaction ends. Nothing here: SQLite waits for its one lock by its busy timeout."""

    @contextmanager
    def waiting_at_most(self, milliseconds: int) -> Iterator[None]:
        """Inside the block, a transaction begun waits at most this long for the database's one write lock
        (SQLite: the busy timeout, which a BEGIN IMMEDIATE waits by), then raises what `is_lock_timeout`
        recognises. Nothing here: PostgreSQL locks rows and keys, not the database (`lock_timeout`)."""
        yield

    def lock_tables(self, tables: Sequence[str]) -> None:
        """Lock these tables against writes until the caller's transaction ends (reads go on). Nothing here:
        SQLite's IMMEDIATE transactions already hold its one write lock from BEGIN."""

    def analyze(self, tables: Sequence[str]) -> None:
        """Fresh planner statistics for these tables, after a bulk rewrite.

        Nothing here: SQLite plans from its defaults, since ANALYZE has never run on the embedded database,
        and a first run would change its plans."""

    def listen_params(self) -> dict[str, Any]:
        """Connection parameters for a listener of its own (backends that notify)."""
        raise NotImplementedError

    # --- bulk statements for read models --------------------------------------------------------------------

    def load_by(
        self,
        model: type[M],
        key: str,
        values: Iterable[Any],
        *,
        fields: Sequence[str] | None = None,
        where: Q | None = None,
    ) -> list[Any]:
        """The rows whose `key` is one of `values` (and that match `where`): model instances, or tuples of
        `fields` when given. `where` names the model's own columns only: PostgreSQL compiles it against the
        table alone, so a condition across a relation fails there."""
        raise NotImplementedError

    def copy_rows(self, model: type[models.Model], rows: Sequence[models.Model]) -> None:
        """INSERT model instances, every concrete field given (primary keys included)."""
        names = [f.attname for f in model._meta.concrete_fields]
        self.copy_values(model, [[getattr(row, n) for n in names] for row in rows])

    def copy_values(self, model: type[models.Model], rows: Sequence[Sequence[Any]]) -> None:
        """INSERT rows given as values in the order of the model's concrete fields."""
        raise NotImplementedError

    def update_rows(
        self, model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]
    ) -> None:
        """UPDATE these fields of each row by primary key."""
        raise NotImplementedError


def stored_to_recorded(row: StoredEvent) -> RecordedEvent:
    return recorded([getattr(row, name) for name in LOG_FIELDS])


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether a database error is a lock that waited past `lock_timeout` (55P03), or SQLite's one write
    lock past its busy timeout (SQLITE_BUSY: "database is locked")."""
    cause = exc.__cause__
    return (
        getattr(cause, "sqlstate", None) == "55P03"
        or getattr(cause, "sqlite_errorname", None) == "SQLITE_BUSY"
    )


def is_deadlock(exc: BaseException) -> bool:
    """Whether a database error is PostgreSQL aborting the transaction to break a deadlock (40P01)."""
    return getattr(exc.__cause__, "sqlstate", None) == "40P01"


def quote(name: str) -> str:
    return connection.ops.quote_name(name)
