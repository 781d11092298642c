"""Bulk statements that skip the ORM's per-value work: for an ingest batch, a projection page, a rebuild.

Django's psycopg cursors bind parameters on the client, so every element of an array parameter is quoted
in Python, and the ORM prepares every value of every row through its field. On PostgreSQL these helpers use
a server-binding psycopg cursor on Django's own connection (so the same transaction): arrays travel in
binary, COPY streams rows, and results come back typed. On SQLite they fall back to the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

import psycopg
from django.db import connection, models
from psycopg.types.json import Jsonb

M = TypeVar("M", bound=models.Model)


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


@contextmanager
def cursor() -> Iterator[psycopg.Cursor]:
    """A server-binding cursor in the current transaction (PostgreSQL only). `%b` sends a value in binary.

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


def load_by(model: type[M], key: str, values: Iterable[Any]) -> list[M]:
    """The rows whose `key` column is one of `values`; on PostgreSQL one index probe per value.

    `key IN (..)` or `= ANY(..)` with hundreds of values lets the planner choose a sequential scan, whose
    cost grows with the table instead of the batch; joining the values as a set leads it to probe.
    """
    values = set(values)
    if not values:
        return []
    if not on_postgresql():
        return list(model.objects.filter(**{f"{key}__in": values}))
    meta, quote = model._meta, connection.ops.quote_name
    field = meta.get_field(key)
    columns = ", ".join(f"t.{quote(f.column)}" for f in meta.concrete_fields)
    rows = fetch(
        f"SELECT {columns} FROM unnest(%b::{array_type(field)}) AS k(key)"
        f" JOIN {quote(meta.db_table)} AS t ON t.{quote(field.column)} = k.key",
        [sorted({str(v) if _is_uuid(field) else v for v in values})],
    )
    names = [f.attname for f in meta.concrete_fields]
    return [model.from_db(connection.alias, names, row) for row in rows]


def value(field: models.Field, attribute: Any) -> Any:
    """A model attribute as psycopg dumps it: JSON as jsonb, UUIDs (sometimes held as text) as text."""
    if attribute is None:
        return None
    if isinstance(field, models.JSONField):
        return Jsonb(attribute)
    if _is_uuid(field):
        return str(attribute)
    return attribute


def _is_uuid(field: models.Field) -> bool:
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    return isinstance(field, models.UUIDField)


@cache
def array_type(field: models.Field) -> str:
    """The PostgreSQL array type of a field's column, e.g. `uuid[]`, for `%b::<type>` parameters."""
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    return f"{field.db_type(connection)}[]"


def copy_rows(model: type[models.Model], rows: Sequence[models.Model]) -> None:
    """INSERT model instances, every concrete field given (primary keys included); on PostgreSQL by COPY.

    For rows of which a batch writes hundreds (log events, timeline entries) Django's bulk_create spent
    most of its time quoting each value into the statement in Python.
    """
    names = [f.attname for f in model._meta.concrete_fields]
    copy_values(model, [[getattr(row, n) for n in names] for row in rows])


def copy_values(model: type[models.Model], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT rows given as values in the order of the model's concrete fields (`_meta.concrete_fields`).

    For the rows a rebuild writes by the million: building a model instance from keyword arguments cost
    more than writing the row.
    """
    if not rows:
        return
    if not on_postgresql():
        model.objects.bulk_create([model(*values) for values in rows])
        return
    meta, quote = model._meta, connection.ops.quote_name
    fields = meta.concrete_fields
    json_columns = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField)]
    columns = ", ".join(quote(f.column) for f in fields)
    with cursor() as cur, cur.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
        for values in rows:
            if json_columns:
                values = list(values)
                for i in json_columns:
                    values[i] = Jsonb(values[i])
            copy.write_row(values)


def update_rows(model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """UPDATE these fields of each row by primary key. On PostgreSQL one statement joins the table to one
    array per column; elsewhere one statement per row.

    Django's bulk_update builds a CASE expression per field and row, which costs seconds for a few hundred
    rows, and a statement per row spent most of a rebuild preparing each value through its field.
    """
    if not rows:
        return
    meta, quote = model._meta, connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    if not on_postgresql():
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
        return
    columns = [meta.pk, *columns]
    names = [f"c{i}" for i in range(len(columns))]
    arrays = [[value(c, getattr(row, c.attname)) for row in rows] for c in columns]
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET "
        + ", ".join(f"{quote(c.column)} = v.{n}" for c, n in zip(columns[1:], names[1:], strict=True))
        + " FROM unnest("
        + ", ".join(f"%b::{array_type(c)}" for c in columns)  # text arrays cast: UUIDs go as text
        + f") AS v({', '.join(names)}) WHERE t.{quote(meta.pk.column)} = v.c0"
    )
    with cursor() as cur:
        cur.execute(sql, arrays)
