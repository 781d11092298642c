"""CloudEvents attributes checked one by one: an event object becomes one ready to place, or field errors."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from hub.events import NewEvent
from interactions import catalogue
from interactions.access.models import ApiToken
from interactions.access.rules import may_post_source
from interactions.catalogue import HUB_SOURCE
from interactions.errors import InvalidIdentifier
from interactions.identity.identifiers import parse_identifier
from interactions.privacy.redaction import (
    CARD_IN_KEY,
    CardNumberRefused,
    holds_card,
    redact_event,
    redact_text,
)

SPECVERSION = "1.0"
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


def _key(value: str | None, name: str, errors: list[dict[str, str]]) -> str | None:
    """A key attribute (id, source) that holds a card number is refused: masking would make two keys one."""
    if value is not None and holds_card(value):
        errors.append({"field": name, "message": f"{name} {CARD_IN_KEY}"})
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


def parse_event(event: Any, token: ApiToken) -> tuple[NewEvent | None, list[dict[str, str]], bool]:
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
    event_id = _key(_string(event, "id", errors, max_length=256), "id", errors)
    source = _key(_string(event, "source", errors, max_length=1024), "source", errors)
    if source is not None and any(c.isspace() for c in source):
        errors.append({"field": "source", "message": "source must be a URI-reference without spaces"})
        source = None
    elif source is not None and (source == HUB_SOURCE or source.startswith(HUB_SOURCE + "/")):
        errors.append({"field": "source", "message": f"{HUB_SOURCE} is reserved for the hub's own events"})
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
        elif holds_card(name):  # a name is a key: it cannot be masked
            errors.append({"field": name, "message": f"an extension attribute name {CARD_IN_KEY}"})
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

    forbidden = source is not None and not may_post_source(token, source)
    if errors or forbidden:
        return None, _masked(errors), forbidden

    metadata: dict[str, Any] = {"token": str(token.pk)}
    for attribute, key in ((CORRELATION_ATTRIBUTE, "correlation_id"), (CAUSATION_ATTRIBUTE, "causation_id")):
        if attribute in extensions:
            metadata[key] = extensions[attribute]
    if extensions:
        metadata["extensions"] = extensions
    if event.get("dataschema"):
        metadata["dataschema"] = event["dataschema"]
    if subject != subject_raw:
        metadata["subject_as_sent"] = subject_raw

    new_event = NewEvent(
        source=source,
        id=event_id,
        type=event_type,
        subject=subject,
        stream="",  # decided by placement: the thread's stream, or the customer's
        data=data,
        occurred_at=occurred_at,
        schema_version=version,
        metadata=metadata,
    )
    try:
        # Before placement, which reads data (topics, conversation refs) as it will be stored.
        return redact_event(new_event), [], False
    except CardNumberRefused as exc:
        return None, _masked(exc.errors), False


def _masked(errors: list[dict[str, str]]) -> list[dict[str, str]]:
    """Errors as the client sees them: a field name or a message quoting a value never carries a card."""
    return [{k: redact_text(v) if isinstance(v, str) else v for k, v in e.items()} for e in errors]
