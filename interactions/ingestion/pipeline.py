"""The ingest pipeline: validate every event of a request, place them, and append them all or none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from hub import log, store
from hub.events import AppendResult, NewEvent, RecordedEvent
from interactions.access.models import ApiToken
from interactions.access.rules import require_may_post_events
from interactions.errors import Forbidden, InvalidEvents
from interactions.followups.rules import opened_by
from interactions.ingestion.cloudevents import Poster, parse_event, token_poster
from interactions.placement.locks import placement_view_locked, retrying_deadlocks
from interactions.placement.rules import CREATING_TYPES, PlacementError


@dataclass(frozen=True)
class IngestedEvent:
    result: AppendResult

    def as_dict(self) -> dict[str, Any]:
        event = self.result.event
        return {
            "id": event.id,
            "source": event.source,
            "position": event.position,
            "duplicate": self.result.duplicate,
            "customer_id": event.metadata.get("customer_id"),
            "thread_id": event.metadata.get("thread_id"),
        }


def events_ingest(events: list[Any], *, token: ApiToken) -> list[IngestedEvent]:
    """Validate every event, then append all of them in one transaction, or none.

    Raises Forbidden if the token may not post raw events or any event's source is outside its prefix, and
    InvalidEvents naming every bad event by index and field.
    """
    require_may_post_events(token)
    return _ingest(
        events,
        token_poster(token),
        f"this token may only post events whose source starts with {token.source_prefix!r}",
    )


def connection_events_ingest(events: list[Any], *, source: str, connection: str) -> list[IngestedEvent]:
    """The events a channel adapter translated from one delivery of a connection, through the same checks,
    redaction and placement as any other, appended all or none. Every event's source is the connection's;
    its metadata names the connection. Raises InvalidEvents as events_ingest does."""
    poster = Poster(lambda s: s == source, {"connection": connection})
    return _ingest(events, poster, f"an adapter of {connection!r} posts only as {source!r}")


def _ingest(events: list[Any], poster: Poster, refusal: str) -> list[IngestedEvent]:
    new_events: list[NewEvent] = []
    errors: list[dict[str, Any]] = []
    forbidden: list[int] = []
    for index, raw in enumerate(events):
        new_event, event_errors, is_forbidden = parse_event(raw, poster)
        if is_forbidden:
            forbidden.append(index)
        errors += [{"index": index, **e} for e in event_errors]
        if new_event is not None:
            new_events.append(new_event)
    if forbidden:
        raise Forbidden(refusal, extra={"indexes": forbidden})
    if errors:
        raise InvalidEvents(errors)
    if store.lean_available():
        try:
            return retrying_deadlocks(lambda: _place_and_append(new_events, lean=True))
        except store.LeanAppendRefused:
            pass  # rolled back whole: place again, with the inline projections checked and caught up
    return retrying_deadlocks(lambda: _place_and_append(new_events, lean=False))


def _place_and_append(new_events: list[NewEvent], *, lean: bool) -> list[IngestedEvent]:
    """Place every event, then append them with the hub's own events, all in one transaction, or none.

    Validation, redaction and identifier parsing happened before. Placement runs under locks on the
    request's identifiers and customers (so two requests about one customer are placed one after the
    other), not under the global append lock, which `store.append` takes only to write.

    `lean`: the first try where appends are lean. Placement reads the inline projections' tables without
    first checking their health (one round trip), and the append runs without a savepoint (two more): the
    append checks their health under its lock, and anything that refuses the lean append (an unhealthy
    projection, a collision) rolls this transaction back whole, to be placed again the careful way.
    """
    with transaction.atomic():
        # Before placement reads the inline projections' tables: the lean append refuses if they change.
        seen = store.inline_seen() if lean else None
        view = placement_view_locked(new_events, check_projections=not lean)
        originals = log.existing((e.source, e.id) for e in new_events)
        now = timezone.now()
        to_append: list[NewEvent] = []
        index_of: dict[tuple[str, str], int] = {}  # (source, id) -> its place in to_append
        errors: list[dict[str, Any]] = []
        for index, event in enumerate(new_events):
            key = (event.source, event.id)
            if key in originals or key in index_of:
                continue
            try:
                placement = view.decide(event, now=now)
            except PlacementError as exc:
                errors.append({"index": index, "field": exc.field, "message": exc.message})
                continue
            to_append += placement.prelude
            index_of[key] = len(to_append)
            placed = placement.stamped(event)
            to_append.append(placed)
            # The events it causes (a bad survey answer's follow-up), appended with it or not at all. An
            # event found in the log above was skipped: its follow-up was appended with it the first time.
            to_append += opened_by(placed, now=now)
        if errors:
            raise InvalidEvents(errors)
        # Looked up just above, under the locks of the events' identifiers and customers; the streams of the
        # customers and threads placement has just created are new.
        # So are the follow-ups' streams: each is named after its survey answer, which the log does not hold.
        fresh = {e.stream for e in to_append if e.type in CREATING_TYPES or e.type == "followup.opened"}
        appended = (
            store.append(
                to_append,
                looked_up=True,
                lean_only=lean,
                fresh_streams=fresh,
                received_at=now,
                inline_seen=seen,
            )
            if to_append
            else []
        )
    results: list[IngestedEvent] = []
    answered: set[tuple[str, str]] = set()
    for event in new_events:
        key = (event.source, event.id)
        recorded: RecordedEvent = originals[key] if key in originals else appended[index_of[key]].event
        duplicate = key in originals or key in answered
        results.append(IngestedEvent(AppendResult(recorded, duplicate=duplicate)))
        answered.add(key)
    return results
