"""What every database backend of the kernel offers: the log's writes and reads, locks, wake-ups and bulk
statements for read models."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models import Max, Q

from hub.events import LOG_FIELDS, RecordedEvent, recorded
from hub.models import StoredEvent

M = TypeVar("M", bound=models.Model)


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

    def read_after(
        self,
        position: int,
        *,
        limit: int,
        types: Iterable[str] | None = None,
        source_prefix: str | None = None,
    ) -> list[RecordedEvent]:
        raise NotImplementedError

    def last_position(self) -> int:
        return StoredEvent.objects.aggregate(p=Max("position"))["p"] or 0

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


def quote(name: str) -> str:
    return connection.ops.quote_name(name)
