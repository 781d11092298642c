"""Append to the log and read it back: the public surface of the event store."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from hub import bulk, projections
from hub.errors import WrongExpectedVersion
from hub.models import StoredEvent
from hub.upcasting import upcast

# A fixed key for the transaction-scoped advisory lock that serialises appends on PostgreSQL.
APPEND_LOCK_KEY = zlib.crc32(b"threadline.hub.append")

# PostgreSQL NOTIFY channel: a wake-up for log tailers, delivered when (and only if) the append commits.
LOG_CHANNEL = "threadline_log"

# expected_versions value meaning "this stream must not exist yet".
NO_STREAM = 0


@dataclass(frozen=True)
class NewEvent:
    """An event to append. `occurred_at` defaults to the time of the append."""

    source: str
    id: str
    type: str
    stream: str
    data: dict[str, Any]
    subject: str = ""
    occurred_at: datetime | None = None
    schema_version: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the log holds it, with its data in the current schema version."""

    position: int
    source: str
    id: str
    type: str
    subject: str
    stream: str
    stream_version: int
    occurred_at: datetime
    recorded_at: datetime
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]

    def to_cloudevent(self) -> dict[str, Any]:
        """The event in the CloudEvents JSON format, as stored (redacted), with its log position."""
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": self.data,
        }
        if self.subject:
            event["subject"] = self.subject
        for name, value in (self.metadata.get("extensions") or {}).items():
            event.setdefault(name, value)
        return event


@dataclass(frozen=True)
class AppendResult:
    event: RecordedEvent
    duplicate: bool

    @property
    def position(self) -> int:
        return self.event.position


LOG_COLUMNS = (
    "position, source, event_id, type, subject, stream, stream_version, occurred_at, recorded_at, "
    "schema_version, data, metadata"
)


_LOG_FIELDS = [name.strip() for name in LOG_COLUMNS.split(",")]
_LOG_COLUMNS_OF_E = ", ".join(f"e.{name}" for name in _LOG_FIELDS)


def recorded_from_row(row: Mapping[str, Any]) -> RecordedEvent:
    """A RecordedEvent from a raw row of hub_event (column names as in the model, `event_id` included)."""
    return _recorded_values([row[name] for name in _LOG_FIELDS])


def _recorded(row: StoredEvent) -> RecordedEvent:
    return _recorded_values([getattr(row, name) for name in _LOG_FIELDS])


def _recorded_values(row: Sequence[Any]) -> RecordedEvent:
    """A RecordedEvent from the values of LOG_COLUMNS, in that order: a rebuild reads the log through here."""
    (position, source, event_id, type_, subject, stream, stream_version, occurred_at, recorded_at,
     schema_version, data, metadata) = row  # fmt: skip
    version, data = upcast(type_, schema_version, data)
    return RecordedEvent(
        position, source, event_id, type_, subject, stream, stream_version, occurred_at, recorded_at, version,
        data, metadata,
    )  # fmt: skip


def append_lock() -> None:
    """Make appends commit in position order. Call inside a transaction; the lock ends with it.

    Why: on PostgreSQL a position (identity value) is handed out at INSERT but becomes visible at COMMIT. With
    concurrent writers, a transaction holding position 10 can commit after one holding 11; a reader that
    already moved past 11 would never see 10. Readers use `after=<position>` as their cursor (API,
    websockets, projections), so positions must become visible in order. A transaction-scoped advisory lock
    makes one append at a time take positions and commit; PostgreSQL releases it only after the commit is
    visible, so the next writer's positions are always higher than anything a reader can still be missing.
    It is taken as late as possible (just before the log INSERT) and held only for a few short statements.

    SQLite needs nothing here: its transactions are IMMEDIATE (see settings), so a writer holds the
    database's single write lock from BEGIN to COMMIT.

    Callers that must decide what to append from state the log protects (identity resolution, thread
    assignment) take it first, read, then append: a second call in the same transaction is free.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])


def lock_keys(namespace: int, keys: Iterable[str]) -> None:
    """Transaction-scoped locks on application keys (say, the identifiers an ingest will place).

    Lets callers serialise work on the same keys without holding the global append lock. Keys are taken in
    sorted order so that two transactions never wait for each other in a cycle. These two-part advisory
    keys are a different key space from the append lock's. SQLite needs nothing: its IMMEDIATE transactions
    already serialise writers.
    """
    wanted = sorted({str(k) for k in keys})
    if not wanted or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(k))"
            " FROM (SELECT unnest(%s::text[]) AS k ORDER BY 1) AS sorted_keys",
            [namespace, wanted],
        )


def try_lock_key(namespace: int, key: str) -> bool:
    """Take a transaction-scoped lock on one application key if it is free; False if another holds it.

    SQLite has nothing to wait for (its IMMEDIATE transactions serialise writers) and always answers True.
    """
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", [namespace, key])
        return cursor.fetchone()[0]


def existing(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RecordedEvent]:
    """The events already in the log among these (source, id) pairs."""
    return _existing(keys)


def _notify_tailers(position: int) -> None:
    """Wake every process tailing the log. NOTIFY is transactional: sent at COMMIT, dropped on rollback.

    It is only a doorbell: a lost notification delays delivery until the tailer's next poll, never loses an
    event, because tailers read the log itself.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [LOG_CHANNEL, str(position)])


def _existing(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RecordedEvent]:
    wanted = set(keys)
    if not wanted:
        return {}
    if bulk.on_postgresql():
        # One probe of the (source, event_id) unique index per pair. `source IN (..) AND event_id IN (..)`
        # made PostgreSQL scan the whole log for a batch: its cost grew with the log, not the batch.
        sources, event_ids = zip(*wanted, strict=True)
        rows = _read(
            f"SELECT {_LOG_COLUMNS_OF_E} FROM unnest(%b::text[], %b::text[]) AS k(source, event_id)"
            " JOIN hub_event AS e ON e.source = k.source AND e.event_id = k.event_id",
            [list(sources), list(event_ids)],
        )
        return {(r.source, r.id): r for r in rows}
    rows = StoredEvent.objects.filter(
        source__in={source for source, _ in wanted}, event_id__in={event_id for _, event_id in wanted}
    )
    return {(r.source, r.event_id): _recorded(r) for r in rows if (r.source, r.event_id) in wanted}


def _stream_versions(streams: Iterable[str], *, reserve: int = 0) -> tuple[dict[str, int], list[int]]:
    """Each stream's current version; on PostgreSQL also the next `reserve` positions of the log, taken in
    the same round trip (called under the append lock, so no other append takes positions in between)."""
    streams = sorted(set(streams))
    if bulk.on_postgresql():
        # The newest version of each stream from the end of the (stream, stream_version) index: a grouped
        # MAX() over `stream IN (..)` read every event of every stream, or the whole log for a batch.
        rows = bulk.fetch(
            "SELECT s.stream, (SELECT max(e.stream_version) FROM hub_event AS e WHERE e.stream = s.stream)"
            " FROM unnest(%b::text[]) AS s(stream)"
            " UNION ALL SELECT NULL, nextval(pg_get_serial_sequence('hub_event', 'position'))"
            " FROM generate_series(1, %b::int)",
            [streams, reserve],
        )
        versions = {stream: version for stream, version in rows if stream is not None and version is not None}
        return versions, sorted(position for stream, position in rows if stream is None)
    rows = (
        StoredEvent.objects.filter(stream__in=streams)
        .values("stream")
        .annotate(version=Max("stream_version"))
        .order_by()
    )
    return {r["stream"]: r["version"] for r in rows}, []


def _read(sql: str, params: list[Any]) -> list[RecordedEvent]:
    """Events from a statement selecting LOG_COLUMNS, read in binary (PostgreSQL only)."""
    return [_recorded_values(row) for row in bulk.fetch(sql, params)]


def append(
    events: Sequence[NewEvent],
    *,
    expected_versions: Mapping[str, int] | None = None,
    deduplicate: bool = True,
) -> list[AppendResult]:
    """Append `events` in one transaction, in the given order, exactly once each.

    An event whose (source, id) is already in the log, or earlier in `events`, is not written again: its
    result carries the original and `duplicate=True`. `expected_versions` maps a stream to the version it
    must be at before this append (0: the stream must not exist); a mismatch raises WrongExpectedVersion
    and writes nothing. Call it inside an outer `transaction.atomic()` to make other writes atomic with it.

    `deduplicate=False` skips the look-up of existing (source, id) pairs, for callers that serialise their
    own appends already (a row lock plus an expected version); the unique constraint still refuses a copy.
    """
    expected_versions = dict(expected_versions or {})
    with transaction.atomic():
        append_lock()
        existing = _existing((e.source, e.id) for e in events) if deduplicate else {}
        streams = {e.stream for e in events} | set(expected_versions)
        new_keys = {(e.source, e.id) for e in events} - set(existing)
        versions, positions = _stream_versions(streams, reserve=len(new_keys))
        for stream, expected in expected_versions.items():
            actual = versions.get(stream, NO_STREAM)
            if actual != expected:
                raise WrongExpectedVersion(stream, expected, actual)

        now = timezone.now()
        rows: list[StoredEvent] = []
        plan: list[tuple[str, Any]] = []  # ("new", row) | ("old", row) | ("batch", index in rows)
        seen_in_batch: dict[tuple[str, str], int] = {}
        for event in events:
            key = (event.source, event.id)
            if key in existing:
                plan.append(("old", existing[key]))
                continue
            if key in seen_in_batch:
                plan.append(("batch", seen_in_batch[key]))
                continue
            version = versions.get(event.stream, NO_STREAM) + 1
            versions[event.stream] = version
            row = StoredEvent(
                source=event.source,
                event_id=event.id,
                type=event.type,
                subject=event.subject or "",
                stream=event.stream,
                stream_version=version,
                occurred_at=event.occurred_at or now,
                recorded_at=now,
                schema_version=event.schema_version,
                data=event.data,
                metadata=event.metadata,
            )
            seen_in_batch[key] = len(rows)
            rows.append(row)
            plan.append(("new", row))
        if rows:
            if positions:
                # Positions reserved, then COPY: bulk_create's INSERT .. RETURNING quoted values in Python.
                for row, position in zip(rows, positions, strict=True):
                    row.position = position
                bulk.copy_rows(StoredEvent, rows)
            else:
                StoredEvent.objects.bulk_create(rows)
            recorded = {id(row): _recorded(row) for row in rows}
            # Inline projections: read models change in the same transaction as the log.
            projections.catch_up([recorded[id(row)] for row in rows])
            _notify_tailers(rows[-1].position)

    results: list[AppendResult] = []
    for kind, item in plan:
        if kind == "new":
            results.append(AppendResult(recorded[id(item)], duplicate=False))
        elif kind == "old":
            results.append(AppendResult(item, duplicate=True))
        else:
            results.append(AppendResult(recorded[id(rows[item])], duplicate=True))
    return results


def read_after(
    position: int = 0,
    *,
    limit: int = 1000,
    types: Iterable[str] | None = None,
    source_prefix: str | None = None,
) -> list[RecordedEvent]:
    """Events with a position above `position`, in log order, at most `limit`."""
    if bulk.on_postgresql():  # a rebuild reads the whole log through here: binary rows, no ORM
        where, params = ["position > %b"], [position]
        if types is not None:
            where.append("type = ANY(%b::text[])")
            params.append(list(types))
        if source_prefix:
            where.append("starts_with(source, %b)")
            params.append(source_prefix)
        return _read(
            f"SELECT {LOG_COLUMNS} FROM hub_event WHERE {' AND '.join(where)} ORDER BY position LIMIT %b",
            [*params, limit],
        )
    query = StoredEvent.objects.filter(position__gt=position)
    if types is not None:
        query = query.filter(type__in=list(types))
    if source_prefix:
        query = query.filter(source__startswith=source_prefix)
    rows = query.order_by("position").values(*_LOG_FIELDS)[:limit]
    return [recorded_from_row(row) for row in rows]


def read_stream(stream: str, *, after_version: int = 0, limit: int | None = None) -> list[RecordedEvent]:
    """A stream's events in version order."""
    query = StoredEvent.objects.filter(stream=stream, stream_version__gt=after_version).order_by(
        "stream_version"
    )
    if limit is not None:
        query = query[:limit]
    return [_recorded(row) for row in query]


def stream_version(stream: str) -> int:
    """The stream's current version, 0 if it has no events."""
    return StoredEvent.objects.filter(stream=stream).aggregate(v=Max("stream_version"))["v"] or NO_STREAM


def last_position() -> int:
    """The highest committed position, 0 for an empty log."""
    return StoredEvent.objects.aggregate(p=Max("position"))["p"] or 0
