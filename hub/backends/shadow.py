"""Shadow tables for an online rebuild (PostgreSQL): a copy of a projection's tables in a schema of their own,
filled while the live ones serve, then swapped in by name in one short transaction.

Why a schema: index and constraint names are unique per schema, so the copies carry exactly the names the
migrations gave the live tables, and `ALTER TABLE .. SET SCHEMA` swaps a table with its indexes,
constraints and identity sequences without copying a row. Why `search_path`: every statement of a projector
(the ORM's, the backends' COPY and UPDATE) names its tables unqualified, so with the shadow schema first on
the path the same projector code writes the copies, while the log and the checkpoints, which have no copy,
are still read from where they live.

SQLite has no schemas that shadow the main database's names (an attached database comes after `main`),
so an online rebuild is PostgreSQL's alone: see `supported()` and hub.rebuild.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence

from django.db import connection

from hub.errors import ApplicationError

SHADOW = "threadline_rebuild"  # the tables being rebuilt, and the rebuild's progress
RETIRED = "threadline_retired"  # the tables swapped out, until they are dropped
# A session-level advisory key: one online rebuild at a time (the lock ends with the session, so a crashed
# rebuild never blocks the next one).
REBUILD_LOCK_KEY = zlib.crc32(b"threadline.hub.rebuild")
# Everything `LIKE` can carry but indexes and constraints, which are recreated under their own names below
# (`LIKE .. INCLUDING INDEXES` would name them after the columns, not as the migrations did).
_LIKE = (
    "INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS"
    " INCLUDING COMPRESSION INCLUDING STATISTICS"
)


class ShadowRefused(ApplicationError):
    """The tables cannot be rebuilt in a shadow schema (see the message)."""


def supported() -> bool:
    """Whether the database in use can rebuild online (PostgreSQL)."""
    return connection.vendor == "postgresql"


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def _rows(sql: str, params: Sequence[object] = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _execute(sql: str, params: Sequence[object] = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# --- what the live tables are -------------------------------------------------------------------------------


def live_schema(tables: Sequence[str]) -> str:
    """The schema the live tables are found in through the search path (the same for all of them)."""
    found = _rows(
        "SELECT t.name, n.nspname FROM unnest(%s::text[]) AS t(name)"
        " LEFT JOIN pg_class AS c ON c.oid = to_regclass(quote_ident(t.name))"
        " LEFT JOIN pg_namespace AS n ON n.oid = c.relnamespace",
        [list(tables)],
    )
    missing = [name for name, schema in found if schema is None]
    if missing:
        raise ShadowRefused(f"no table {', '.join(missing)}: migrate first")
    schemas = {schema for _, schema in found}
    if len(schemas) != 1 or schemas & {SHADOW, RETIRED}:
        raise ShadowRefused(f"the tables {', '.join(tables)} must live in one schema, not {sorted(schemas)}")
    return schemas.pop()


def check_movable(schema: str, tables: Sequence[str]) -> None:
    """Refuse what a swap by schema would break: a foreign key from another table into these (it would keep
    pointing at the retired table, and go with it), a column default drawing on a sequence the table owns
    (`serial`: the copy would draw on the old table's sequence), or a trigger of the application's."""
    qualified = [f"{q(schema)}.{q(t)}" for t in tables]
    inbound = _rows(
        "SELECT conname, conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint"
        " WHERE contype = 'f' AND confrelid = ANY(%s::regclass[]) AND NOT conrelid = ANY(%s::regclass[])",
        [qualified, qualified],
    )
    if inbound:
        name, source, target = inbound[0]
        raise ShadowRefused(f"{source} references {target} ({name}): rebuild it offline, or together")
    serial = _rows(
        "SELECT d.refobjid::regclass::text, a.attname FROM pg_depend AS d"
        " JOIN pg_class AS s ON s.oid = d.objid AND s.relkind = 'S'"
        " JOIN pg_attribute AS a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
        " WHERE d.refobjid = ANY(%s::regclass[]) AND d.deptype = 'a'",
        [qualified],
    )
    if serial:
        table, column = serial[0]
        raise ShadowRefused(f"{table}.{column} is a serial column (not an identity): rebuild it offline")
    triggers = _rows(
        "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
        " WHERE tgrelid = ANY(%s::regclass[]) AND NOT tgisinternal",
        [qualified],
    )
    if triggers:
        table, trigger = triggers[0]
        raise ShadowRefused(f"{table} has a trigger ({trigger}) an online rebuild would not copy")


def describe(schema: str, tables: Sequence[str]) -> dict[str, dict[str, object]]:
    """Each table's persistence, columns, constraints and indexes as the catalogue holds them, with the
    schema's name taken out: two schemas with equal descriptions hold the same tables (the swap's check, and
    the tests'). Three catalogue queries for all the tables: the swap asks this while it holds them."""
    prefix = f"{schema}."
    relations = [f"{q(schema)}.{q(table)}" for table in tables]
    description: dict[str, dict[str, object]] = {
        table: {"persistence": None, "columns": [], "constraints": [], "indexes": []} for table in tables
    }
    for table, persistence, *column in _rows(
        "SELECT c.relname, c.relpersistence, attname, format_type(atttypid, atttypmod), attnotnull,"
        " attidentity, attgenerated, pg_get_expr(d.adbin, d.adrelid), attcollation::regcollation::text"
        " FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid"
        " LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE attrelid = ANY(%s::regclass[]) AND attnum > 0 AND NOT attisdropped"
        " ORDER BY c.relname, attnum",
        [relations],
    ):
        # An unlogged copy swapped in would be emptied by crash recovery.
        description[table]["persistence"] = persistence
        description[table]["columns"].append(column)
    for table, name, kind, definition, *deferral in _rows(
        "SELECT c.relname, conname, contype, pg_get_constraintdef(k.oid), condeferrable, condeferred"
        " FROM pg_constraint AS k JOIN pg_class AS c ON c.oid = k.conrelid"
        " WHERE conrelid = ANY(%s::regclass[]) ORDER BY c.relname, conname",
        [relations],
    ):
        description[table]["constraints"].append([name, kind, definition.replace(prefix, ""), *deferral])
    for table, name, definition in _rows(
        "SELECT t.relname, c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index AS i"
        " JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_class AS t ON t.oid = i.indrelid"
        " WHERE i.indrelid = ANY(%s::regclass[]) ORDER BY t.relname, c.relname",
        [relations],
    ):
        description[table]["indexes"].append([name, definition.replace(f" ON {prefix}", " ON ")])
    return description


def fingerprint(schema: str, tables: Sequence[str]) -> str:
    """A digest of `describe`: a resumed rebuild checks that the live tables did not change shape since."""
    text = json.dumps(describe(schema, tables), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --- the shadow's life --------------------------------------------------------------------------------------


def try_lock() -> bool:
    """Take the one-rebuild-at-a-time lock for this session; False if another session holds it."""
    return _rows("SELECT pg_try_advisory_lock(%s)", [REBUILD_LOCK_KEY])[0][0]


def unlock() -> None:
    _execute("SELECT pg_advisory_unlock(%s)", [REBUILD_LOCK_KEY])


def exists(schema: str = SHADOW) -> bool:
    return bool(_rows("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]))


def drop(schema: str) -> None:
    _execute(f"DROP SCHEMA IF EXISTS {q(schema)} CASCADE")


def create(schema: str, tables: Sequence[str], *, unlogged: bool = False) -> None:
    """Create the shadow schema with an empty copy of each table (in the caller's transaction): the same
    columns, defaults and identities, then every constraint and index under the live one's name. `unlogged`:
    the copies write no WAL until `set_logged` (and PostgreSQL empties them if it restarts after a crash)."""
    _execute(f"CREATE SCHEMA {q(schema)}")
    live = live_schema(tables)
    kind = "UNLOGGED TABLE" if unlogged else "TABLE"
    for table in tables:
        _execute(f"CREATE {kind} {q(schema)}.{q(table)} (LIKE {q(live)}.{q(table)} {_LIKE})")
    # Constraints as the live tables print them under the caller's path, where a foreign key's target is
    # unqualified; added with the shadow first on the path, a target among the copies is the copy. Foreign
    # keys last, once every copy has the keys they point at.
    keys, foreign = [], []
    for table in tables:
        relation = f"{q(live)}.{q(table)}"
        target = f"{q(schema)}.{q(table)}"
        for name, kind, definition in _rows(
            "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'x', 'c', 'f') ORDER BY conname",
            [relation],
        ):
            statement = f"ALTER TABLE {target} ADD CONSTRAINT {q(name)} {definition}"
            (foreign if kind == "f" else keys).append(statement)
        for (definition,) in _rows(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index AS i WHERE i.indrelid = %s::regclass"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid"
            " AND c.conrelid = i.indrelid)",
            [relation],
        ):
            # pg_get_indexdef names the table with its schema: `CREATE INDEX ix ON public.t USING ..`
            shadowed = definition.replace(f" ON {live}.{table} ", f" ON {target} ", 1)
            shadowed = shadowed.replace(f" ON {relation} ", f" ON {target} ", 1)
            if shadowed == definition:
                raise ShadowRefused(f"cannot copy an index of {table}: {definition}")
            keys.append(shadowed)
    path = write_into(schema)
    for statement in [*keys, *foreign]:
        _execute(statement)
    set_path(path)


def set_logged(schema: str, tables: Sequence[str]) -> None:
    """Make unlogged copies ordinary tables (each written to the WAL once, whole); a logged one is left as it
    is. Tables a copy's foreign keys point at first: a logged table may not point at an unlogged one."""
    unlogged = [
        name
        for (name,) in _rows(
            "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relpersistence = 'u' AND c.relkind = 'r'",
            [schema],
        )
    ]
    for table in logged_order(schema, unlogged):
        _execute(f"ALTER TABLE {q(schema)}.{q(table)} SET LOGGED")


def logged_order(schema: str, tables: Sequence[str]) -> list[str]:
    """`tables` in an order they can be made logged one by one: each after those among them its foreign keys
    point at (a table may point at itself). A cycle has no such order: refused, naming its tables. The live
    tables have the copies' foreign keys, so an online rebuild asks this of them before it replays anything.
    """
    points_at = {t: _points_at(schema, t) - {t} for t in tables}
    left = set(tables)
    order: list[str] = []
    while left:
        ready = sorted(t for t in left if not (points_at[t] & left))
        if not ready:
            # What is left is the cycle and the tables that point into it: name the cycle alone.
            while pointing := {t for t in left if not any(t in points_at[u] for u in left)}:
                left -= pointing
            raise ShadowRefused(
                f"{', '.join(sorted(left))} point at each other through foreign keys in a cycle, so their"
                " copies cannot be written unlogged and made logged before the swap: rebuild them with"
                " THREADLINE_REBUILD_UNLOGGED=false, or offline"
            )
        order.extend(ready)
        left.difference_update(ready)
    return order


def _points_at(schema: str, table: str) -> set[str]:
    return {
        name
        for (name,) in _rows(
            "SELECT DISTINCT t.relname FROM pg_constraint AS c JOIN pg_class AS t ON t.oid = c.confrelid"
            " WHERE c.contype = 'f' AND c.conrelid = %s::regclass",
            [f"{q(schema)}.{q(table)}"],
        )
    }


def write_into(schema: str) -> str:
    """Until the caller's transaction ends (or `set_path`), unqualified names mean the shadow's tables where
    it has them. Returns the search path it replaced."""
    path = _rows("SHOW search_path")[0][0]
    _execute(f"SET LOCAL search_path TO {q(schema)}, {path}")
    return path


def set_path(path: str) -> None:
    _execute(f"SET LOCAL search_path TO {path}")


def analyze(schema: str, tables: Sequence[str]) -> None:
    """Planner statistics for the copies, before they serve reads (autovacuum would take a while)."""
    for table in tables:
        _execute(f"ANALYZE {q(schema)}.{q(table)}")


def lock_live(schema: str, tables: Sequence[str], *, timeout_ms: int) -> None:
    """Lock the live tables against readers and writers for the swap, waiting at most `timeout_ms` (a lock
    that waits longer raises OperationalError, and the caller tries again): a swap that queued behind a
    long reader would hold every later reader behind it, and a runner's batch that had written one of the
    tables and now wanted another would wait for the swap while the swap waits for it."""
    _execute(f"SET LOCAL lock_timeout = {int(timeout_ms)}")
    _execute("LOCK TABLE " + ", ".join(f"{q(schema)}.{q(t)}" for t in tables) + " IN ACCESS EXCLUSIVE MODE")


def sync_identities(schema: str, tables: Sequence[str]) -> None:
    """Move each identity column's sequence of the copies past the highest value the replay wrote."""
    for table in tables:
        relation = f"{q(schema)}.{q(table)}"
        for (column,) in _rows(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attidentity <> ''"
            " AND NOT attisdropped",
            [relation],
        ):
            _execute(
                f"SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX({q(column)}), 0) + 1, false)"
                f" FROM {relation}",
                [relation, column],
            )


def swap(shadow: str, live: str, tables: Sequence[str]) -> None:
    """Move the live tables into the retired schema and the copies into the live one (caller's transaction,
    with the live tables locked)."""
    _execute(f"CREATE SCHEMA IF NOT EXISTS {q(RETIRED)}")
    for table in tables:
        _execute(f"ALTER TABLE {q(live)}.{q(table)} SET SCHEMA {q(RETIRED)}")
        _execute(f"ALTER TABLE {q(shadow)}.{q(table)} SET SCHEMA {q(live)}")
