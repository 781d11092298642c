"""Ingestion: validate CloudEvents, authorise their source, redact card data and append them to the log."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import OperationalError, transaction
from django.utils import timezone
from psycopg import errors as psycopg_errors

from hub import projections, store
from interactions import catalogue
from interactions.errors import Forbidden, InvalidEvents, InvalidIdentifier
from interactions.identifiers import parse_identifier
from interactions.models import ApiToken
from interactions.placement import (
    CUSTOMER_LOCKS,
    HUB_SOURCE,
    IDENTIFIER_LOCKS,
    PlacementError,
    PlacementView,
    identifiers_of,
)
from interactions.redaction import redact
from interactions.tokens import check_may_post_source, require_may_post_events

T = TypeVar("T")
SPECVERSION = "1.0"
# The hub's own events (placement, commands) come from here; nobody else may post as the hub.
RESERVED_SOURCE = HUB_SOURCE
CONTEXT_ATTRIBUTES = {
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "dataschema",
}
# Extension attributes the hub reads itself; others are kept and returned as they came.
SCHEMA_VERSION_ATTRIBUTE = "schemaversion"
CORRELATION_ATTRIBUTE = "correlationid"
CAUSATION_ATTRIBUTE = "causationid"
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_JSON_TYPES = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


@dataclass(frozen=True)
class IngestedEvent:
    result: store.AppendResult

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


def _string(event: dict[str, Any], name: str, errors: list[dict[str, str]], *, max_length: int) -> str | None:
    value = event.get(name)
    if value is None:
        errors.append({"field": name, "message": f"the required attribute {name!r} is missing"})
        return None
    if not isinstance(value, str) or not value.strip():
        errors.append({"field": name, "message": f"{name!r} must be a non-empty string"})
        return None
    if len(value) > max_length:
        errors.append({"field": name, "message": f"{name!r} is at most {max_length} characters"})
        return None
    return value


def _parse_time(value: Any, errors: list[dict[str, str]]) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    errors.append({"field": "time", "message": "time must be an RFC 3339 timestamp with a UTC offset"})
    return None


def parse_event(event: Any, token: ApiToken) -> tuple[store.NewEvent | None, list[dict[str, str]], bool]:
    """Validate one CloudEvent (a parsed JSON object).

    Returns the event ready to append (or None), its field errors, and whether its source is forbidden to
    the token.
    """
    errors: list[dict[str, str]] = []
    if not isinstance(event, dict):
        return None, [{"field": "", "message": "an event must be a JSON object"}], False

    specversion = event.get("specversion")
    if specversion is None:
        errors.append({"field": "specversion", "message": "the required attribute 'specversion' is missing"})
    elif specversion != SPECVERSION:
        errors.append(
            {"field": "specversion", "message": f"unsupported specversion {specversion!r}; use '1.0'"}
        )
    event_id = _string(event, "id", errors, max_length=256)
    source = _string(event, "source", errors, max_length=1024)
    if source is not None and any(c.isspace() for c in source):
        errors.append({"field": "source", "message": "source must be a URI-reference without spaces"})
        source = None
    elif source is not None and (source == RESERVED_SOURCE or source.startswith(RESERVED_SOURCE + "/")):
        errors.append(
            {"field": "source", "message": f"{RESERVED_SOURCE} is reserved for the hub's own events"}
        )
        source = None
    event_type = _string(event, "type", errors, max_length=256)
    if event_type is not None and event_type not in catalogue.CATALOGUE:
        errors.append(
            {
                "field": "type",
                "message": f"unknown event type {event_type!r}; see GET /api/v1/event-types",
            }
        )
        event_type = None
    elif event_type in catalogue.INTERNAL_TYPES:
        errors.append(
            {
                "field": "type",
                "message": f"{event_type} is appended by the hub itself; use the threads API",
            }
        )
        event_type = None

    subject_raw = _string(event, "subject", errors, max_length=1024)
    subject = None
    if subject_raw is not None:
        try:
            subject = parse_identifier(subject_raw).uri
        except InvalidIdentifier as exc:
            errors.append({"field": "subject", "message": str(exc)})

    occurred_at = _parse_time(event.get("time"), errors)

    content_type = event.get("datacontenttype")
    if content_type is not None and (
        not isinstance(content_type, str) or not _JSON_TYPES.match(content_type.split(";")[0].strip().lower())
    ):
        errors.append({"field": "datacontenttype", "message": "event data must be JSON (application/json)"})
    if "data_base64" in event:
        errors.append({"field": "data_base64", "message": "binary data is not accepted; send JSON in 'data'"})

    extensions: dict[str, Any] = {}
    for name, value in event.items():
        if name in CONTEXT_ATTRIBUTES or name in ("data", "data_base64"):
            continue
        if not _EXTENSION_NAME.match(name):
            errors.append(
                {"field": name, "message": "extension attribute names are 1-20 lower-case letters or digits"}
            )
        elif not isinstance(value, str | int | bool) or (isinstance(value, str) and len(value) > 1024):
            errors.append(
                {"field": name, "message": "an extension attribute is a string (<= 1024), integer or boolean"}
            )
        else:
            extensions[name] = value

    version = None
    if event_type is not None:
        requested = extensions.pop(SCHEMA_VERSION_ATTRIBUTE, catalogue.current_version(event_type))
        if isinstance(requested, str) and requested.isdigit():
            requested = int(requested)
        if requested not in catalogue.CATALOGUE[event_type]:
            known = ", ".join(str(v) for v in sorted(catalogue.CATALOGUE[event_type]))
            errors.append(
                {"field": SCHEMA_VERSION_ATTRIBUTE, "message": f"{event_type} has versions {known}"}
            )
        else:
            version = requested

    data = event.get("data")
    if "data" not in event:
        errors.append({"field": "data", "message": "the event needs its JSON 'data'"})
    elif event_type is not None and version is not None:
        errors += catalogue.validate_data(event_type, version, data)

    forbidden = source is not None and not check_may_post_source(token, source)
    if errors or forbidden:
        return None, errors, forbidden

    data, redacted = redact(data)
    metadata: dict[str, Any] = {"token": str(token.pk)}
    if redacted:
        metadata["redacted"] = redacted
    for attribute, key in ((CORRELATION_ATTRIBUTE, "correlation_id"), (CAUSATION_ATTRIBUTE, "causation_id")):
        if attribute in extensions:
            metadata[key] = extensions[attribute]
    if extensions:
        metadata["extensions"] = extensions
    if event.get("dataschema"):
        metadata["dataschema"] = event["dataschema"]
    if subject != subject_raw:
        metadata["subject_as_sent"] = subject_raw

    return (
        store.NewEvent(
            source=source,
            id=event_id,
            type=event_type,
            subject=subject,
            stream="",  # decided by placement: the thread's stream, or the customer's
            data=data,
            occurred_at=occurred_at,
            schema_version=version,
            metadata=metadata,
        ),
        [],
        False,
    )


def events_ingest(events: list[Any], *, token: ApiToken) -> list[IngestedEvent]:
    """Validate every event, then append all of them in one transaction, or none.

    Raises Forbidden if the token may not post raw events or any event's source is outside its prefix, and
    InvalidEvents naming every bad event by index and field.
    """
    require_may_post_events(token)
    new_events: list[store.NewEvent] = []
    errors: list[dict[str, Any]] = []
    forbidden: list[int] = []
    for index, raw in enumerate(events):
        new_event, event_errors, is_forbidden = parse_event(raw, token)
        if is_forbidden:
            forbidden.append(index)
        errors += [{"index": index, **e} for e in event_errors]
        if new_event is not None:
            new_events.append(new_event)
    if forbidden:
        raise Forbidden(
            f"this token may only post events whose source starts with {token.source_prefix!r}",
            extra={"indexes": forbidden},
        )
    if errors:
        raise InvalidEvents(errors)
    return _append_placed(new_events)


def _append_placed(new_events: list[store.NewEvent]) -> list[IngestedEvent]:
    """Place every event, then append them with the hub's own events, all in one transaction, or none.

    Validation, redaction and identifier parsing happened before. Placement runs under locks on the
    request's identifiers and customers (so two requests about one customer are placed one after the
    other), not under the global append lock, which `store.append` takes only to write.
    """
    return retrying_deadlocks(lambda: _append_placed_once(new_events))


def retrying_deadlocks(work: Callable[[], T]) -> T:
    """Run a placing transaction; retry it if PostgreSQL aborted it to break a deadlock."""
    for attempt in range(3):
        try:
            return work()
        except OperationalError as exc:
            # Two requests merging customers in opposite orders can deadlock; PostgreSQL aborts one. Retry.
            if not isinstance(exc.__cause__, psycopg_errors.DeadlockDetected) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def placement_view_locked(new_events: list[store.NewEvent]) -> PlacementView:
    """Lock the events' identifiers and customers (inside the caller's transaction) and load what placement
    reads. Two requests about one customer are then placed one after the other."""
    store.lock_keys(IDENTIFIER_LOCKS, {uri for e in new_events for uri in identifiers_of(e)})
    locked = PlacementView.customers_for(new_events)
    store.lock_keys(CUSTOMER_LOCKS, locked)
    projections.catch_up_if_behind()  # placement reads the read models: current unless a projector failed
    view = PlacementView.load(new_events)
    # A merge committed between the two reads can name a customer not locked yet; lock it too.
    store.lock_keys(CUSTOMER_LOCKS, view.customer_ids() - locked)
    return view


def _append_placed_once(new_events: list[store.NewEvent]) -> list[IngestedEvent]:
    with transaction.atomic():
        view = placement_view_locked(new_events)
        originals = store.existing((e.source, e.id) for e in new_events)
        now = timezone.now()
        to_append: list[store.NewEvent] = []
        answers: list[tuple[str, Any]] = []  # ("old", RecordedEvent) | ("new", index in to_append)
        seen: dict[tuple[str, str], int] = {}
        errors: list[dict[str, Any]] = []
        for index, event in enumerate(new_events):
            key = (event.source, event.id)
            if key in originals:
                answers.append(("old", originals[key]))
                continue
            if key in seen:
                answers.append(("again", seen[key]))
                continue
            try:
                placement = view.place(event, now=now)
            except PlacementError as exc:
                errors.append({"index": index, "field": exc.field, "message": exc.message})
                continue
            to_append += placement.prelude
            seen[key] = len(to_append)
            answers.append(("new", len(to_append)))
            to_append.append(placement.place(event))
        if errors:
            raise InvalidEvents(errors)
        appended = store.append(to_append) if to_append else []
    results = []
    for kind, item in answers:
        if kind == "old":
            results.append(IngestedEvent(store.AppendResult(item, duplicate=True)))
        else:
            results.append(IngestedEvent(store.AppendResult(appended[item].event, duplicate=kind == "again")))
    return results
