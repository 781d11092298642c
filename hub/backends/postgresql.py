"""The PostgreSQL backend: advisory locks order appends, NOTIFY wakes tailers, and bulk statements skip the
ORM's per-value work.

Django's psycopg cursors bind parameters on the client, so every element of an array parameter is quoted
in Python, and the ORM prepares every value of every row through its field. Here statements run on a
server-binding psycopg cursor on Django's own connection (so the same transaction): arrays travel in
binary (`%b`), COPY streams rows, and results come back typed.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any

import psycopg
from django.db import DatabaseError, IntegrityError, connection, models
from django.db.models import Q
from psycopg.types.json import Jsonb

from hub.backends.base import Backend, LeanAppendRefused, M, quote
from hub.events import LOG_COLUMNS, RecordedEvent, recorded
from hub.models import StoredEvent

# A fixed key for the transaction-scoped advisory lock that serialises appends.
APPEND_LOCK_KEY = zlib.crc32(b"threadline.hub.append")
FEW_ROWS = 16  # up to this many rows, copy_values INSERTs rather than COPYs
# The inline projections' state as last read (hub_inline_seen, migration 0007), by the names read.
_inline_seen: dict[frozenset[str], str] = {}
_LOG_COLUMNS_OF_E = ", ".join(f"e.{name.strip()}" for name in LOG_COLUMNS.split(","))


@contextmanager
def cursor() -> Iterator[psycopg.Cursor]:
    """A server-binding cursor in the current transaction. `%b` sends a value in binary.

    Database errors come out as Django's (IntegrityError, OperationalError with psycopg's error as the
    cause), as from any Django cursor, so callers catch one family of exceptions whichever cursor ran.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cur:
        yield cur


def fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple]:
    """Rows of a statement, loaded from PostgreSQL's binary format (no text parsing of dates or JSON)."""
    with cursor() as cur:
        cur.execute(sql, params, binary=True)
        return cur.fetchall()


def _read(sql: str, params: list[Any]) -> list[RecordedEvent]:
    return [recorded(row) for row in fetch(sql, params)]


def _is_uuid(field: models.Field) -> bool:
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    return isinstance(field, models.UUIDField)


def _column(rows: Sequence[models.Model], field: models.Field) -> list[Any]:
    """One attribute of every row as psycopg dumps it: JSON as jsonb, UUIDs (sometimes held as text) as
    text. The field is looked at once per column, not once per value: at thousands of rows a page, asking
    per value was a tenth of a replay."""
    values = list(map(attrgetter(field.attname), rows))
    if isinstance(field, models.JSONField):
        return [None if v is None else Jsonb(v) for v in values]
    if _is_uuid(field):
        return [None if v is None else str(v) for v in values]
    return values


@cache
def array_type(field: models.Field) -> str:
    """The PostgreSQL array type of a field's column, e.g. `uuid[]`, for `%b::<type>` parameters."""
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    return f"{field.db_type(connection)}[]"


def _log_where(
    after: int, upto: int | None, types: list[str] | None, source_prefix: str | None
) -> tuple[str, list[Any]]:
    where, params = ["position > %b"], [after]
    if upto is not None:
        where.append("position <= %b")
        params.append(upto)
    if types is not None:
        where.append("type = ANY(%b::text[])")
        params.append(types)
    if source_prefix:
        where.append("starts_with(source, %b)")
        params.append(source_prefix)
    return " AND ".join(where), params


class PostgresqlBackend(Backend):
    vendor = "postgresql"
    notifies = True

    def append_lock(self) -> None:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])

    def lock_timeout(self, milliseconds: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = {int(milliseconds)}")

    def lock_tables(self, tables: Sequence[str]) -> None:
        # EXCLUSIVE: plain reads go on; writes and SELECT .. FOR UPDATE wait. The lock waits for the
        # transactions writing them now, so take it before any other lock a writer may be waiting for.
        if tables:
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {', '.join(quote(t) for t in tables)} IN EXCLUSIVE MODE")

    def analyze(self, tables: Sequence[str]) -> None:
        # Samples each table (30,000 rows at the default statistics target); blocks neither reads nor writes.
        if tables:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {', '.join(quote(t) for t in tables)}")

    def lock_keys(self, namespace: int, keys: Sequence[str]) -> None:
        # Two-part advisory keys: a different key space from the append lock's.
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(k))"
                " FROM (SELECT unnest(%s::text[]) AS k ORDER BY 1) AS sorted_keys",
                [namespace, list(keys)],
            )

    def try_lock_key(self, namespace: int, key: str) -> bool:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", [namespace, key])
            return cur.fetchone()[0]

    def notify(self, channel: str, payload: str) -> None:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_notify(%s, %s)", [channel, payload])

    def existing(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], RecordedEvent]:
        # One probe of the (source, event_id) unique index per pair. `source IN (..) AND event_id IN (..)`
        # made PostgreSQL scan the whole log for a batch: its cost grew with the log, not the batch.
        sources, event_ids = zip(*keys, strict=True)
        rows = _read(
            f"SELECT {_LOG_COLUMNS_OF_E} FROM unnest(%b::text[], %b::text[]) AS k(source, event_id)"
            " JOIN hub_event AS e ON e.source = k.source AND e.event_id = k.event_id",
            [list(sources), list(event_ids)],
        )
        return {(r.source, r.id): r for r in rows}

    def stream_versions(
        self, streams: Sequence[str], *, reserve: int = 0
    ) -> tuple[dict[str, int], list[int]]:
        # The newest version of each stream from the end of the (stream, stream_version) index: a grouped
        # MAX() over `stream IN (..)` read every event of every stream, or the whole log for a batch. The
        # positions are taken in the same round trip (the caller holds the append lock).
        rows = fetch(
            "SELECT s.stream, (SELECT max(e.stream_version) FROM hub_event AS e WHERE e.stream = s.stream)"
            " FROM unnest(%b::text[]) AS s(stream)"
            " UNION ALL SELECT NULL, nextval(pg_get_serial_sequence('hub_event', 'position'))"
            " FROM generate_series(1, %b::int)",
            [list(streams), reserve],
        )
        versions = {stream: version for stream, version in rows if stream is not None and version is not None}
        return versions, sorted(position for stream, position in rows if stream is None)

    lean_appends = True

    def prepare_append(
        self, keys: set[tuple[str, str]], streams: Sequence[str]
    ) -> tuple[dict[tuple[str, str], RecordedEvent], dict[str, int]]:
        # One round trip: the originals among `keys` (one probe of the unique index each), then one row per
        # stream with its newest version (from the end of the (stream, stream_version) index), its position
        # NULL to tell them apart.
        sources, event_ids = zip(*keys, strict=True) if keys else ((), ())
        rows = fetch(
            f"SELECT {_LOG_COLUMNS_OF_E} FROM unnest(%b::text[], %b::text[]) AS k(source, event_id)"
            " JOIN hub_event AS e ON e.source = k.source AND e.event_id = k.event_id"
            " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, s.stream,"
            " (SELECT max(e.stream_version) FROM hub_event AS e WHERE e.stream = s.stream),"
            " NULL, NULL, NULL, NULL, NULL FROM unnest(%b::text[]) AS s(stream)",
            [list(sources), list(event_ids), list(streams)],
        )
        originals: dict[tuple[str, str], RecordedEvent] = {}
        versions: dict[str, int] = {}
        for row in rows:
            if row[0] is None:
                if row[6] is not None:
                    versions[row[5]] = row[6]
            else:
                event = recorded(row)
                originals[(event.source, event.id)] = event
        return originals, versions

    def inline_seen(self, inline: Sequence[str], *, keep: bool = True) -> str:
        key = frozenset(inline)
        seen = _inline_seen.get(key) if keep else None
        if seen is None:
            ((seen,),) = fetch("SELECT hub_inline_seen(%b::text[])", [sorted(key)])
            if keep:
                _inline_seen[key] = seen
        return seen

    def forget_inline_seen(self) -> None:
        _inline_seen.clear()

    def append_serialised(
        self, rows: list[StoredEvent], channel: str, inline: Sequence[str], seen: str, *, keep: bool = True
    ) -> tuple[list[int], datetime]:
        columns = (
            [r.source for r in rows],
            [r.event_id for r in rows],
            [r.type for r in rows],
            [r.subject for r in rows],
            [r.stream for r in rows],
            [r.stream_version for r in rows],
            [r.occurred_at for r in rows],
            [r.schema_version for r in rows],
            [Jsonb(r.data) for r in rows],
            [Jsonb(r.metadata) for r in rows],
        )
        try:
            ((positions, locked_at),) = fetch(
                "SELECT * FROM hub_append(%b, %b, %b, %b::text[], %b, %b::text[], %b::text[], %b::text[],"
                " %b::text[], %b::text[], %b::bigint[], %b::timestamptz[], %b::smallint[], %b::jsonb[],"
                " %b::jsonb[])",
                [APPEND_LOCK_KEY, channel, rows[0].recorded_at, list(inline), seen, *columns],
            )
        except IntegrityError as exc:
            raise LeanAppendRefused("a row collides with one committed since it was decided") from exc
        except DatabaseError as exc:
            cause = exc.__cause__
            if getattr(cause, "sqlstate", None) == "TL001":
                # The state read under the lock: what later appends, which start reading after now, check;
                # unless this transaction changed it (what it read is its own, not committed).
                if keep:
                    _inline_seen[frozenset(inline)] = cause.diag.message_detail or ""
                else:
                    _inline_seen.pop(frozenset(inline), None)
                raise LeanAppendRefused(cause.diag.message_primary or str(cause)) from exc
            raise
        return positions, locked_at

    def write_events(self, rows: list[StoredEvent], positions: list[int]) -> None:
        # Positions reserved, then COPY: bulk_create's INSERT .. RETURNING quoted values in Python.
        for row, position in zip(rows, positions, strict=True):
            row.position = position
        self.copy_rows(StoredEvent, rows)

    def log_rows(
        self,
        after: int,
        *,
        limit: int,
        upto: int | None = None,
        types: list[str] | None = None,
        source_prefix: str | None = None,
    ) -> list[Sequence[Any]]:
        # A rebuild reads the whole log through here: binary rows, no ORM.
        where, params = _log_where(after, upto, types, source_prefix)
        return fetch(
            f"SELECT {LOG_COLUMNS} FROM hub_event WHERE {where} ORDER BY position LIMIT %b", [*params, limit]
        )

    def log_positions(
        self, after: int, *, limit: int, types: list[str] | None = None, source_prefix: str | None = None
    ) -> list[int]:
        where, params = _log_where(after, None, types, source_prefix)
        sql = f"SELECT position FROM hub_event WHERE {where} ORDER BY position LIMIT %b"
        return [position for (position,) in fetch(sql, [*params, limit])]

    def listen_params(self) -> dict[str, Any]:
        params = connection.get_connection_params()
        for key in ("cursor_factory", "context", "pool"):
            params.pop(key, None)
        # Timestamps in UTC, as Django's own connections read them.
        params["options"] = (params.get("options", "") + " -c timezone=UTC").strip()
        return params

    def load_by(
        self,
        model: type[M],
        key: str,
        values: Iterable[Any],
        *,
        fields: Sequence[str] | None = None,
        where: Q | None = None,
    ) -> list[Any]:
        # `key IN (..)` or `= ANY(..)` with hundreds of values lets the planner choose a sequential scan,
        # whose cost grows with the table instead of the batch; joining the values as a set makes it probe.
        values = set(values)
        if not values:
            return []
        meta = model._meta
        table, field = meta.db_table, meta.get_field(key)
        selected = [meta.get_field(name) for name in fields] if fields else list(meta.concrete_fields)
        columns = ", ".join(f"{quote(table)}.{quote(f.column)}" for f in selected)
        sql = (
            f"SELECT {columns} FROM unnest(%b::{array_type(field)}) AS k(key)"
            f" JOIN {quote(table)} ON {quote(table)}.{quote(field.column)} = k.key"
        )
        params: list[Any] = [sorted({str(v) for v in values} if _is_uuid(field) else values)]
        if where is not None:
            query = model.objects.filter(where).query
            condition, extra = query.where.as_sql(query.get_compiler(connection=connection), connection)
            sql += f" WHERE {condition}"
            params += list(extra)
        rows = fetch(sql, params)
        if fields:
            return rows
        names = [f.attname for f in selected]
        return [model.from_db(connection.alias, names, row) for row in rows]

    def copy_values(self, model: type[models.Model], rows: Sequence[Sequence[Any]]) -> None:
        # For rows a batch writes by the hundred and a rebuild by the million, Django's bulk_create spent
        # most of its time quoting each value into the statement in Python.
        if not rows:
            return
        meta = model._meta
        fields = meta.concrete_fields
        json_columns = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
        columns = ", ".join(quote(f.column) for f in fields)
        if len(rows) <= FEW_ROWS:
            # A few rows (a request's new customer, thread or identifier): one INSERT is one round trip, a
            # COPY two (its start is answered before the data goes).
            values = [
                Jsonb(value) if i in json_columns and value is not None else value
                for row in rows
                for i, value in enumerate(row)
            ]
            one = f"({', '.join(['%s'] * len(fields))})"
            with cursor() as cur:
                cur.execute(
                    f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {', '.join([one] * len(rows))}",
                    values,
                )
            return
        with cursor() as cur, cur.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for values in rows:
                if json_columns:
                    values = list(values)
                    for i in json_columns:
                        values[i] = Jsonb(values[i])
                copy.write_row(values)

    def update_rows(
        self, model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]
    ) -> None:
        # One statement joins the table to one array per column. Django's bulk_update builds a CASE per
        # field and row, which cost seconds for a few hundred rows.
        if not rows:
            return
        meta = model._meta
        columns = [meta.pk, *(meta.get_field(name) for name in fields)]
        names = [f"c{i}" for i in range(len(columns))]
        arrays = [_column(rows, c) for c in columns]
        sql = (
            f"UPDATE {quote(meta.db_table)} AS t SET "
            + ", ".join(f"{quote(c.column)} = v.{n}" for c, n in zip(columns[1:], names[1:], strict=True))
            + " FROM unnest("
            + ", ".join(f"%b::{array_type(c)}" for c in columns)  # text arrays cast: UUIDs go as text
            + f") AS v({', '.join(names)}) WHERE t.{quote(meta.pk.column)} = v.c0"
        )
        with cursor() as cur:
            cur.execute(sql, arrays)
