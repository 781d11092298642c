"""Row projectors: a unit of work that loads, changes and writes back read-model rows in bulk,
and keeps the busiest rows across a rebuild's pages."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from django.db import connection, models

from hub.backends import backend
from hub.events import RecordedEvent

# Rows of each kind a rebuild keeps in memory between pages (see UnitOfWork); bounded, so memory stays flat
# however long the log.
REPLAY_KEEP = 50_000


class UnitOfWork:
    """The read-model rows a run of events touches, changed in memory and written back by `flush`.

    Each `apply_*` function of a projector applies one recorded event to the unit of work; the unit loads the
    rows a page of events needs in a query per table and writes them back with bulk statements, so a request
    of 500 events or a rebuild page costs a handful of queries, not a handful per event.

    A rebuild's unit (`keep` > 0) lives across pages: `end_page` writes what only that page needed and keeps
    up to `keep` rows of the `kept` kinds in memory, so a busy row is written once at the end instead of once
    per page. Updating the same rows page after page inside the rebuild's one transaction left chains of
    row versions that every later look-up walked: at 1.2M events, UPDATEs and row loads grew to half the
    rebuild. Nothing else writes these rows meanwhile: the rebuild holds the append lock.
    """

    # kind -> (model, the fields an UPDATE writes back)
    tables: ClassVar[dict[str, tuple[type[models.Model], list[str]]]] = {}
    # The kinds a rebuild keeps between pages; the others are written at the end of each page.
    kept: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, keep: int = 0) -> None:
        self.keep = keep
        self.page = 0
        self.last_page: dict[tuple[str, str], int] = {}  # (kind, key) -> the last page that used the row
        self._reset()

    def _reset(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {kind: {} for kind in self.tables}
        self._forget_looked_up()
        self.new: set[tuple[str, str]] = set()
        self.dirty: set[tuple[str, str]] = set()
        self.last_page.clear()
        self.start_page()

    def _forget_looked_up(self) -> None:
        # kind -> the keys `load` asked the database for since the rows were last written back or dropped:
        # one not in `rows` has no row, so asking again (a handler after the prefetch) costs a query per
        # event for nothing.
        self.looked_up: dict[str, set[str]] = {kind: set() for kind in self.tables}

    def start_page(self) -> None:
        """Forget what only one page holds (subclasses keep timeline rows, refs, ... there)."""

    def write_page(self) -> None:
        """Write what only this page holds."""

    def used(self, kind: str, keys: Iterable[str]) -> None:
        if self.keep:
            for key in keys:
                self.last_page[(kind, key)] = self.page

    def load(self, kind: str, keys: Iterable[str]) -> None:
        """Load the rows of `keys` not in memory yet and not looked up already, in one query."""
        keys = {str(k) for k in keys}
        self.used(kind, keys)
        missing = keys - self.rows[kind].keys() - self.looked_up[kind]
        if not missing:
            return
        self.looked_up[kind] |= missing
        model = self.tables[kind][0]
        for row in backend().load_by(model, model._meta.pk.name, missing):
            self.rows[kind][str(row.pk)] = row

    def get(self, kind: str, key: Any) -> Any:
        key = str(key)
        if key not in self.rows[kind]:
            self.rows[kind][key] = self.tables[kind][0].objects.get(pk=key)
        self.used(kind, [key])
        return self.rows[kind][key]

    def add(self, kind: str, key: str, row: Any) -> None:
        self.rows[kind][key] = row
        self.new.add((kind, key))
        self.used(kind, [key])

    def touch(self, kind: str, key: Any) -> None:
        if (kind, str(key)) not in self.new:
            self.dirty.add((kind, str(key)))

    def _write(self, only: set[tuple[str, str]] | None = None) -> None:
        """Write the new and changed rows (all, or `only` these) and forget that they changed."""
        db = backend()
        for kind, (model, fields) in self.tables.items():
            rows = self.rows[kind]
            new = [key for k, key in self.new if k == kind and (only is None or (k, key) in only)]
            dirty = [key for k, key in self.dirty if k == kind and (only is None or (k, key) in only)]
            db.copy_rows(model, [rows[key] for key in new])
            db.update_rows(model, [rows[key] for key in dirty], fields)
        if only is None:
            self.new.clear()
            self.dirty.clear()
        else:
            self.new -= only
            self.dirty -= only

    def flush(self) -> None:
        """Write everything back and start afresh."""
        self._write()
        self.write_page()
        self._reset()

    def end_page(self) -> None:
        """A rebuild's page is done: write its page-only rows and the kinds not kept; keep the busiest rows of
        the kept kinds in memory (at most `keep`), writing the others back."""
        passing = {(k, key) for k, key in self.new | self.dirty if k not in self.kept}
        self._write(only=passing)
        self.write_page()
        for kind in self.tables:
            if kind not in self.kept:
                self.rows[kind] = {}
        self._forget_looked_up()  # rows are dropped below: a key looked up before may have one again
        self.start_page()
        self.page += 1
        held = [(kind, key) for kind in self.kept for key in self.rows[kind]]
        if len(held) <= self.keep:
            return
        held.sort(key=lambda row: self.last_page.get(row, 0))
        evicted = set(held[: len(held) - self.keep * 3 // 4])  # the least recently used, with headroom
        self._write(only=evicted)
        for kind, key in evicted:
            del self.rows[kind][key]
            self.last_page.pop((kind, key), None)


Handler = Callable[[Any, RecordedEvent], None]


class RowProjector:
    """A projector of rows through a unit of work: `handlers` maps each event type it handles to an
    `apply_*` function, `prefetch` loads what a page needs, and `tables` (children first) are its own."""

    name: ClassVar[str]
    # Raise it whenever a change would make different rows of the same events: read models an older version
    # built are reported until rebuilt (hub.models.BUILT_VERSION_HELP).
    version: ClassVar[int] = 1
    unit: ClassVar[type[UnitOfWork]]
    handlers: ClassVar[dict[str, Handler]]
    tables: ClassVar[tuple[type[models.Model], ...]]

    def __init__(self) -> None:
        self.types = frozenset(self.handlers)
        self._local = threading.local()  # the rebuild's unit of work, if this thread is rebuilding

    def prefetch(self, unit: UnitOfWork, events: list[RecordedEvent]) -> None:
        """Load the rows these events touch (a query per table), before the handlers run."""

    @contextmanager
    def replaying(self) -> Iterator[None]:
        """Bracket a rebuild's pages: rows stay in memory from one page to the next and are all written
        when the block ends without an error (on an error the rebuild's transaction rolls back anyway)."""
        self._local.replay = self.unit(keep=REPLAY_KEEP)
        try:
            yield
            self._local.replay.flush()
        finally:
            self._local.replay = None

    def apply_all(self, events: list[RecordedEvent]) -> None:
        replay = getattr(self._local, "replay", None)
        unit = replay if replay is not None else self.unit()
        self.prefetch(unit, events)
        for event in events:
            self.handlers[event.type](unit, event)
        if replay is None:
            unit.flush()
        else:
            unit.end_page()

    def reset(self) -> None:
        # Plain DELETEs, children first: the ORM's cascade collector would load every row into memory first.
        with connection.cursor() as cursor:
            for model in self.tables:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")
