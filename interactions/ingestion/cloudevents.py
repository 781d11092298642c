"""CloudEvents attributes checked one by one: an event object becomes one ready to place, or field errors."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub import storable
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
_EXTENSION_NAME = re.compile(r"\A[a-z0-9]{1,20}\Z")
_JSON_TYPES = re.compile(r"\Aapplication/(?:[\w.+-]+\+)?json\Z")
_VERSION = re.compile(r"\A[0-9]{1,5}\Z")
# CloudEvents' Integer type: a 32-bit signed whole number.
_INTEGER_RANGE = range(-(2**31), 2**31)
MAX_EXTENSION_LENGTH = 1024  # characters of a string extension attribute (kept in the metadata, not indexed)
MAX_DATASCHEMA_BYTES = 1024
# An absolute URI: a scheme, a colon, and no white space (the OpenAPI description says the same; the byte
# order mark is listed because ECMAScript's \s, which the description's reader applies, counts it).
DATASCHEMA_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\uFEFF]*$"
_DATASCHEMA = re.compile(DATASCHEMA_PATTERN)


def _string(event: dict[str, Any], name: str, errors: list[dict[str, str]], *, max_bytes: int) -> str | None:
    """A required string attribute, at most `max_bytes` in UTF-8: the bytes an index entry holds."""
    value = event.get(name)
    if value is None:
        errors.append({"field": name, "message": f"the required attribute {name!r} is missing"})
        return None
    if not isinstance(value, str) or not value.replace("\ufeff", "").strip():
        errors.append({"field": name, "message": f"{name!r} must be a non-empty string"})
        return None
    if storable.utf8_length(value) > max_bytes:
        errors.append({"field": name, "message": f"{name!r} is at most {max_bytes} bytes in UTF-8"})
        return None
    return value


def _key(value: str | None, name: str, errors: list[dict[str, str]]) -> str | None:
    """A key attribute (id, source) that holds a card number is refused: masking would make two keys one."""
    if value is not None and holds_card(value):
        errors.append({"field": name, "message": f"{name} {CARD_IN_KEY}"})
        return None
    return value


def _parse_time(value: Any, errors: list[dict[str, str]]) -> datetime | None:
    """The event's time: RFC 3339 with an offset, inside the range every reader of the log accepts
    (hub.storable: 1970-01-01T00:00:00Z to 2199-12-31T23:59:59.999999Z, after conversion to UTC)."""
    if value is None:
        return None
    parsed = None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parsed is None or parsed.tzinfo is None:
        errors.append({"field": "time", "message": "time must be an RFC 3339 timestamp with a UTC offset"})
        return None
    if problem := storable.time_problem(parsed):
        errors.append({"field": "time", "message": f"time {problem}"})
        return None
    return parsed


def _storable_problem(event: dict[str, Any]) -> dict[str, str] | None:
    """The first value of the event the log cannot hold (NUL, a lone surrogate, a number that overflowed to
    infinity, nesting past the limit), named by its field. Checked before anything reads the values, so no
    later message or query ever carries one."""
    found = storable.json_problem(event)
    if found is None:
        return None
    path, message = found
    return {"field": storable.field_name(path), "message": message}


def _canonical_thread_id(data: dict[str, Any]) -> dict[str, Any]:
    # The schema takes a thread id in any form uuid.UUID reads ("{...}", "urn:uuid:...", upper case);
    # placement, the read models and both databases then see the one form the hub gives out.
    value = data.get("thread_id")
    if isinstance(value, str):
        try:
            return {**data, "thread_id": str(uuid.UUID(value))}
        except ValueError:
            return data
    return data


@dataclass(frozen=True)
class Poster:
    """Who posts events: which sources it may post for, and what each event's metadata records of it (an
    API token's id, or the connection whose delivery an adapter translated)."""

    may_post: Callable[[str], bool]
    metadata: dict[str, str]


def token_poster(token: ApiToken) -> Poster:
    return Poster(lambda source: may_post_source(token, source), {"token": str(token.pk)})


def _attribute_name(name: str) -> bool:
    return name in CONTEXT_ATTRIBUTES or (
        name not in ("data", "data_base64") and bool(_EXTENSION_NAME.match(name))
    )


def parse_event(event: Any, poster: Poster) -> tuple[NewEvent | None, list[dict[str, str]], bool]:
    """Validate one CloudEvent (a parsed JSON object).

    Returns the event ready to append (or None), its field errors, and whether its source is forbidden to
    the poster.
    """
    errors: list[dict[str, str]] = []
    if not isinstance(event, dict):
        return None, [{"field": "", "message": "an event must be a JSON object"}], False
    # The JSON format: "When decoding attributes and a null value is encountered, it MUST be treated as the
    # equivalent of unset or omitted." `data` is no attribute: null is its value; nor is a name no attribute
    # may have (refused below, whatever its value).
    event = {name: value for name, value in event.items() if value is not None or not _attribute_name(name)}
    if unstorable := _storable_problem(event):
        source = event.get("source")
        forbidden = isinstance(source, str) and not storable.text_problem(source)
        return None, [unstorable], forbidden and not poster.may_post(source)

    specversion = event.get("specversion")
    if specversion is None:
        errors.append({"field": "specversion", "message": "the required attribute 'specversion' is missing"})
    elif specversion != SPECVERSION:
        errors.append(
            {"field": "specversion", "message": f"unsupported specversion {specversion!r}; use '1.0'"}
        )
    event_id = _key(_string(event, "id", errors, max_bytes=storable.MAX_ID_BYTES), "id", errors)
    source = _key(_string(event, "source", errors, max_bytes=storable.MAX_SOURCE_BYTES), "source", errors)
    if source is not None and any(c.isspace() or c == "\ufeff" for c in source):
        errors.append({"field": "source", "message": "source must be a URI-reference without spaces"})
        source = None
    elif source is not None and (source == HUB_SOURCE or source.startswith(HUB_SOURCE + "/")):
        errors.append({"field": "source", "message": f"{HUB_SOURCE} is reserved for the hub's own events"})
        source = None
    event_type = _string(event, "type", errors, max_bytes=storable.MAX_TYPE_BYTES)
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

    subject_raw = _string(event, "subject", errors, max_bytes=storable.MAX_SUBJECT_BYTES)
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
    dataschema = event.get("dataschema")
    if "dataschema" in event and (
        not isinstance(dataschema, str)
        or not dataschema
        or storable.utf8_length(dataschema) > MAX_DATASCHEMA_BYTES
        or not _DATASCHEMA.fullmatch(dataschema)
    ):
        message = f"dataschema is an absolute URI (scheme:...) of at most {MAX_DATASCHEMA_BYTES} bytes"
        errors.append({"field": "dataschema", "message": message})

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
        elif (
            not isinstance(value, str | int | bool)
            or (isinstance(value, str) and len(value) > MAX_EXTENSION_LENGTH)
            or (type(value) is int and value not in _INTEGER_RANGE)
        ):
            errors.append(
                {
                    "field": name,
                    "message": f"an extension attribute is a string (<= {MAX_EXTENSION_LENGTH} characters),"
                    " a 32-bit integer or a boolean",
                }
            )
        else:
            extensions[name] = value

    version = None
    if event_type is not None:
        requested = extensions.pop(SCHEMA_VERSION_ATTRIBUTE, catalogue.current_version(event_type))
        if isinstance(requested, str) and _VERSION.match(requested):
            requested = int(requested)
        # `True in {1: ...}` holds in Python: a boolean must not pass for version 1.
        if type(requested) is not int or requested not in catalogue.CATALOGUE[event_type]:
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

    forbidden = source is not None and not poster.may_post(source)
    if errors or forbidden:
        return None, _masked(errors), forbidden

    data = _canonical_thread_id(data)
    metadata: dict[str, Any] = dict(poster.metadata)
    for attribute, key in ((CORRELATION_ATTRIBUTE, "correlation_id"), (CAUSATION_ATTRIBUTE, "causation_id")):
        if attribute in extensions:
            metadata[key] = extensions[attribute]
    if extensions:
        metadata["extensions"] = extensions
    if dataschema is not None:
        metadata["dataschema"] = dataschema
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
