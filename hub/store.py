"""Append to the log: in one transaction, in order, exactly once each, with the inline projections."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hub import holds, log, projections, storable, subscriptions
from hub.backends import backend
from hub.backends.base import LeanAppendRefused, stored_to_recorded
from hub.errors import UnstorableEvents, WrongExpectedVersion
from hub.events import NO_STREAM, AppendResult, NewEvent, RecordedEvent
from hub.models import StoredEvent

# Text attributes of an event and their limits in UTF-8 bytes (see hub.storable for why bytes).
_TEXT_LIMITS = (
    ("source", storable.MAX_SOURCE_BYTES),
    ("id", storable.MAX_ID_BYTES),
    ("type", storable.MAX_TYPE_BYTES),
    ("subject", storable.MAX_SUBJECT_BYTES),
    ("stream", storable.MAX_STREAM_BYTES),
)
MAX_SCHEMA_VERSION = 32767  # the column is a small integer


def unstorable(events: Sequence[NewEvent]) -> list[dict[str, Any]]:
    """What in `events` the log could not store so that every reader reads it back, by index and field."""
    return [
        {"index": index, "field": field, "message": message}
        for index, event in enumerate(events)
        for field, message in _problems(event)
    ]


def _problems(event: NewEvent) -> Iterator[tuple[str, str]]:
    for name, limit in _TEXT_LIMITS:
        value = getattr(event, name)
        if not isinstance(value, str):
            yield name, f"{name} must be a string"
        elif problem := storable.text_problem(value):
            yield name, f"{name} {problem}"
        elif storable.utf8_length(value) > limit:
            yield name, f"{name} is at most {limit} bytes in UTF-8"
    if event.occurred_at is not None and (problem := storable.time_problem(event.occurred_at)):
        yield "occurred_at", f"occurred_at {problem}"
    version = event.schema_version
    if type(version) is not int or not 1 <= version <= MAX_SCHEMA_VERSION:
        yield "schema_version", f"schema_version is an integer from 1 to {MAX_SCHEMA_VERSION}"
    for name in ("data", "metadata"):
        value = getattr(event, name)
        if not isinstance(value, dict):
            yield name, f"{name} must be a JSON object"
        elif found := storable.json_problem(value):
            path, message = found
            yield storable.field_name((name, *path)), message


def append(
    events: Sequence[NewEvent],
    *,
    expected_versions: Mapping[str, int] | None = None,
    deduplicate: bool = True,
    looked_up: bool = False,
    lean_only: bool = False,
    fresh_streams: Collection[str] = (),
    received_at: datetime | None = None,
    inline_seen: str | None = None,
) -> list[AppendResult]:
    """Append `events` in one transaction, in the given order, exactly once each.

    An event whose (source, id) is already in the log, or earlier in `events`, is not written again: its
    result carries the original and `duplicate=True`. `expected_versions` maps a stream to the version it
    must be at before this append (0: the stream must not exist); a mismatch raises WrongExpectedVersion
    and writes nothing. An event the log could not store so that every reader reads it back (hub.storable)
    raises UnstorableEvents and writes nothing, whoever appends it. Call it inside an outer
    `transaction.atomic()` to make other writes atomic with it.

    `deduplicate=False` skips the look-up of existing (source, id) pairs, for callers that serialise their
    own appends already (a row lock plus an expected version); the unique constraint still refuses a copy.
    `looked_up=True` says the caller has just looked the events up (hub.log.existing) in this transaction
    and found none: the lean path does not look again (a copy committed since then collides, and the
    locked path, which always looks, answers it as a duplicate).

    Where the backend can (PostgreSQL), the append is lean: the duplicates and stream versions are read,
    the rows built and the inline projections applied before the global append lock is taken; then one
    round trip takes the lock, numbers and inserts the rows and queues the NOTIFY, and the COMMIT follows.
    The lock is held for that round trip and the COMMIT, whatever the projections cost. If that cannot go
    on (a row collides with one a concurrent append committed meanwhile, the same (source, id) or the same
    stream version; an inline projection raised, or is failed or new), everything since its savepoint is
    undone and the append is done again the locked way: the lock first, then the reads and the writes, each
    inline projection in a savepoint of its own, its failure recorded.

    `fresh_streams` names streams the caller has just named after new random ids, so known to hold no event:
    the lean path does not look their versions up (a round trip when they are all a request has). Were one
    to hold an event after all, its version collides in the log's unique index, and the append is refused
    as any collision is; the locked path always looks.

    `received_at` is when the caller received the events (default: now): their `recorded_at`, and the time
    of those that have none. A caller that decided on them as of a moment (placement's `now`) passes it, so
    that what it decided and what is recorded name one instant.

    `lean_only=True` is for a caller that decided what to append from the inline projections' tables in its
    own transaction (placement) and can decide again: where the append would be lean, it runs without a
    savepoint of its own, and instead of falling back it raises LeanAppendRefused, which leaves the caller's
    transaction to be rolled back whole (its decisions may rest on what collided). The caller then decides
    again, after `projections.catch_up_if_behind()`, and appends with `lean_only=False`. The savepoint and
    its release are two round trips of every lean append that such a caller saves; `lean_available()` says
    whether an append would be lean at all. Such a caller passes `inline_seen`, what `inline_seen()` said
    before it read the first of those tables: the lean append is refused if an inline projection failed, or
    was caught up or rebuilt, since then (what it read may be older than what is committed). Without it, the
    append looks just before it applies the inline projections itself.
    """
    if errors := unstorable(events):
        raise UnstorableEvents(errors)
    expected_versions = dict(expected_versions or {})
    db = backend()
    deduplicate_lean = deduplicate and not looked_up
    if db.lean_appends and inline_seen is None:
        inline_seen = db.inline_seen(projections.names(), keep=not projections.checkpoints_written())
    if db.lean_appends and lean_only:
        return _lean(db, events, expected_versions, deduplicate_lean, fresh_streams, received_at, inline_seen)
    if db.lean_appends:
        try:
            with transaction.atomic():
                return _lean(
                    db, events, expected_versions, deduplicate_lean, fresh_streams, received_at, inline_seen
                )
        except LeanAppendRefused:
            pass  # rolled back to its savepoint: decide again, holding the lock
    with transaction.atomic():
        return _locked(db, events, expected_versions, deduplicate, received_at)


def lean_available() -> bool:
    """Whether appends here are lean (PostgreSQL): decided before the global lock, which is held only to
    number and insert the rows, and checked then against the inline projections' health."""
    return backend().lean_appends


def inline_seen() -> str:
    """The inline projections' state, for a caller that reads their tables and then appends lean
    (`append(..., lean_only=True, inline_seen=...)`): taken before its first read, it makes the append
    refuse if they changed since. Usually no round trip (the last reading is kept)."""
    return backend().inline_seen(projections.names(), keep=not projections.checkpoints_written())


def _rows(
    events: Sequence[NewEvent],
    originals: Mapping[tuple[str, str], RecordedEvent],
    versions: dict[str, int],
    received_at: datetime | None = None,
) -> tuple[list[StoredEvent], dict[tuple[str, str], int]]:
    """The log rows to write (each new event once, in order, at its stream's next version), and the row of
    each (source, id)."""
    now = received_at or timezone.now()
    rows: list[StoredEvent] = []
    row_of: dict[tuple[str, str], int] = {}  # (source, id) -> its row in `rows`
    for event in events:
        key = (event.source, event.id)
        if key in originals or key in row_of:
            continue
        version = versions.get(event.stream, NO_STREAM) + 1
        versions[event.stream] = version
        row_of[key] = len(rows)
        rows.append(
            StoredEvent(
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
        )
    return rows, row_of


def _check_versions(expected_versions: Mapping[str, int], versions: Mapping[str, int]) -> None:
    for stream, expected in expected_versions.items():
        actual = versions.get(stream, NO_STREAM)
        if actual != expected:
            raise WrongExpectedVersion(stream, expected, actual)


def _lean(
    db,
    events: Sequence[NewEvent],
    expected_versions: dict[str, int],
    deduplicate: bool,
    fresh_streams: Collection[str],
    received_at: datetime | None,
    inline_seen: str,
) -> list[AppendResult]:
    if set(expected_versions) - {e.stream for e in events}:
        # A stream only expected, not written, has no unique (stream, version) to refuse a concurrent
        # append that moves it on between this look and the lock: it is checked holding the lock.
        raise LeanAppendRefused("an expected version of a stream the append does not write")
    keys = {(e.source, e.id) for e in events} if deduplicate else set()
    streams = sorted(({e.stream for e in events} | set(expected_versions)) - set(fresh_streams))
    originals, versions = db.prepare_append(keys, streams) if keys or streams else ({}, {})
    _check_versions(expected_versions, versions)
    rows, row_of = _rows(events, originals, versions, received_at)
    written: list[RecordedEvent] = []
    if rows:
        # Positions are not known before the lock: the inline projections see 0 and must not read it.
        for row in rows:
            row.position = 0
        projections.apply_new([stored_to_recorded(row) for row in rows])
        keep = not projections.checkpoints_written()
        positions, locked_at = db.append_serialised(
            rows, log.LOG_CHANNEL, projections.names(), inline_seen, keep=keep
        )
        holds.start("lean", since=locked_at)
        for row, position in zip(rows, positions, strict=True):
            row.position = position
        written = [stored_to_recorded(row) for row in rows]
        if settings.THREADLINE_SUBSCRIPTIONS_EAGER:
            subscriptions.apply_eagerly()
    return _results(events, originals, written, row_of)


def _locked(
    db,
    events: Sequence[NewEvent],
    expected_versions: dict[str, int],
    deduplicate: bool,
    received_at: datetime | None,
) -> list[AppendResult]:
    log.append_lock()
    holds.start("locked")
    originals = log.existing((e.source, e.id) for e in events) if deduplicate else {}
    streams = sorted({e.stream for e in events} | set(expected_versions))
    new_keys = {(e.source, e.id) for e in events} - set(originals)
    versions, positions = db.stream_versions(streams, reserve=len(new_keys))
    _check_versions(expected_versions, versions)
    rows, row_of = _rows(events, originals, versions, received_at)
    written: list[RecordedEvent] = []
    if rows:
        db.write_events(rows, positions)
        written = [stored_to_recorded(row) for row in rows]
        # Inline projections (write models) change in the same transaction as the log.
        projections.catch_up(written)
        if settings.THREADLINE_SUBSCRIPTIONS_EAGER:
            subscriptions.apply_eagerly()
        db.notify(log.LOG_CHANNEL, str(rows[-1].position))
    return _results(events, originals, written, row_of)


def _results(
    events: Sequence[NewEvent],
    originals: Mapping[tuple[str, str], RecordedEvent],
    written: list[RecordedEvent],
    row_of: Mapping[tuple[str, str], int],
) -> list[AppendResult]:
    results: list[AppendResult] = []
    answered: set[tuple[str, str]] = set()
    for event in events:
        key = (event.source, event.id)
        if key in originals:
            results.append(AppendResult(originals[key], duplicate=True))
        else:
            results.append(AppendResult(written[row_of[key]], duplicate=key in answered))
            answered.add(key)
    return results
