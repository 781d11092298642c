"""The SQLite backend (the embedded default): the ORM throughout, and no locks of its own.

SQLite transactions are IMMEDIATE here (see settings): a writer holds the database's one write lock from
BEGIN to COMMIT, so appends are already serialised and keyed locks have nothing to add. Tailers poll.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, models
from django.db.models import Max, Q
from django.db.models.functions import Left

from hub.backends.base import Backend, M, quote, stored_to_recorded
from hub.events import LOG_FIELDS, RecordedEvent
from hub.models import StoredEvent


def _log_query(after: int, upto: int | None, types: list[str] | None, source_prefix: str | None):
    query = StoredEvent.objects.filter(position__gt=after)
    if upto is not None:
        query = query.filter(position__lte=upto)
    if types is not None:
        query = query.filter(type__in=types)
    if source_prefix:
        # Not `source__startswith`: SQLite's LIKE ignores the case of ASCII letters, and a source is a
        # case-sensitive URI (a token for "/sms/" must not read "/SMS/"'s events).
        query = query.alias(head=Left("source", len(source_prefix))).filter(head=source_prefix)
    return query.order_by("position")


class SqliteBackend(Backend):
    vendor = "sqlite"
    notifies = False

    def append_lock(self) -> None:
        pass  # the IMMEDIATE transaction holds the write lock already

    @contextmanager
    def waiting_at_most(self, milliseconds: int) -> Iterator[None]:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            (before,) = cursor.fetchone()
            cursor.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {int(before)}")

    def lock_keys(self, namespace: int, keys: Sequence[str]) -> None:
        pass

    def try_lock_key(self, namespace: int, key: str) -> bool:
        return True

    def existing(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], RecordedEvent]:
        rows = StoredEvent.objects.filter(
            source__in={source for source, _ in keys}, event_id__in={event_id for _, event_id in keys}
        )
        return {(r.source, r.event_id): stored_to_recorded(r) for r in rows if (r.source, r.event_id) in keys}

    def stream_versions(
        self, streams: Sequence[str], *, reserve: int = 0
    ) -> tuple[dict[str, int], list[int]]:
        rows = (
            StoredEvent.objects.filter(stream__in=streams)
            .values("stream")
            .annotate(version=Max("stream_version"))
            .order_by()
        )
        return {r["stream"]: r["version"] for r in rows}, []  # positions come from the INSERT

    def write_events(self, rows: list[StoredEvent], positions: list[int]) -> None:
        StoredEvent.objects.bulk_create(rows)

    def log_rows(
        self,
        after: int,
        *,
        limit: int,
        upto: int | None = None,
        types: list[str] | None = None,
        source_prefix: str | None = None,
    ) -> list[Sequence[Any]]:
        return list(_log_query(after, upto, types, source_prefix).values_list(*LOG_FIELDS)[:limit])

    def log_positions(
        self, after: int, *, limit: int, types: list[str] | None = None, source_prefix: str | None = None
    ) -> list[int]:
        return list(_log_query(after, None, types, source_prefix).values_list("position", flat=True)[:limit])

    def load_by(
        self,
        model: type[M],
        key: str,
        values: Iterable[Any],
        *,
        fields: Sequence[str] | None = None,
        where: Q | None = None,
    ) -> list[Any]:
        values = set(values)
        if not values:
            return []
        query = model.objects.filter(Q(**{f"{key}__in": values}) & (where or Q()))
        return list(query.values_list(*fields)) if fields else list(query)

    def copy_values(self, model: type[models.Model], rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            model.objects.bulk_create([model(*values) for values in rows])

    def update_rows(
        self, model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]
    ) -> None:
        if not rows:
            return
        meta = model._meta
        columns = [meta.get_field(name) for name in fields]
        sql = (
            f"UPDATE {quote(meta.db_table)} SET "
            + ", ".join(f"{quote(c.column)} = %s" for c in columns)
            + f" WHERE {quote(meta.pk.column)} = %s"
        )
        params = [
            [c.get_db_prep_save(getattr(row, c.attname), connection) for c in [*columns, meta.pk]]
            for row in rows
        ]
        with connection.cursor() as cur:
            cur.executemany(sql, params)
