"""The CloudEvents HTTP binding: structured, binary and batch requests become a list of event objects."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from hub import storable
from hub.errors import ApplicationError

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
_HEADER_PREFIX = "HTTP_CE_"


class MalformedRequest(ApplicationError):
    """The body cannot be read as what its media type says (not UTF-8, not JSON, too deep, empty), or a
    binary-mode header is not UTF-8 once percent-decoded."""


class UnsupportedMediaType(ApplicationError):
    """The media type is not one of the CloudEvents modes."""


class PayloadTooLarge(ApplicationError):
    """The body or the batch is over its limit."""


def bounded_body(
    request: HttpRequest,
    *,
    too_large: type[Exception] = PayloadTooLarge,
    malformed: type[Exception] = MalformedRequest,
) -> bytes:
    """The request's body, refused (`too_large`) past THREADLINE_MAX_BODY_BYTES, whether its Content-Length
    says so or the bytes do; a Content-Length that is not a number is `malformed`. Channel adapters read
    their deliveries through here too, with errors of their own."""
    limit = settings.THREADLINE_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise malformed("Content-Length is not a number") from exc
    if declared > limit:
        raise too_large(f"the body is {declared} bytes; the limit is {limit}")
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise too_large(f"the body is over the limit of {limit} bytes") from exc
    if len(body) > limit:
        raise too_large(f"the body is {len(body)} bytes; the limit is {limit}")
    return body


def _json(body: bytes, *, batch: bool = False, within: tuple[str, ...] = ()) -> Any:
    """The body as JSON. `batch`: its first level is the events' index; `within`: the field the body is."""
    if not body.strip():
        raise MalformedRequest("the body is empty")
    try:
        return storable.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MalformedRequest("the body is not UTF-8") from exc
    except storable.Unreadable as exc:  # nested too deep, or a key named twice
        in_batch = batch and exc.path and isinstance(exc.path[0], int)
        index, path = (exc.path[0], exc.path[1:]) if in_batch else (0, exc.path)
        raise MalformedRequest(
            "the body names a key twice in one object"
            if isinstance(exc, storable.RepeatedKey)
            else f"the body nests objects and arrays deeper than {storable.MAX_JSON_DEPTH} levels",
            extra={
                "errors": [
                    {"index": index, "field": storable.field_name((*within, *path)), "message": str(exc)}
                ]
            },
        ) from None
    except ValueError as exc:
        raise MalformedRequest(f"the body is not valid JSON: {exc}") from exc


def _header_values(ce_headers: dict[str, str]) -> dict[str, str]:
    """Binary-mode attributes from their ce-* headers, percent-decoded as UTF-8 (HTTP binding, 3.1.3.2).

    Header values arrive as Latin-1 text (what WSGI and ASGI make of the bytes), so the bytes are recovered,
    percent-decoded, and must then be UTF-8. Decoding leniently would turn every invalid sequence into
    U+FFFD, and `coll-1%FF` and `coll-1%FE`, two different ids, into one: the second event would be
    answered as a duplicate and dropped.
    """
    values: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for key, raw in ce_headers.items():
        name = key[len(_HEADER_PREFIX) :].lower()
        try:
            values[name] = unquote_to_bytes(raw.encode("latin-1")).decode("utf-8")
        except UnicodeError:
            errors.append(
                {
                    "index": 0,
                    "field": name,
                    "message": f"the ce-{name} header is not UTF-8 once percent-decoded",
                }
            )
    if errors:
        raise MalformedRequest(errors[0]["message"], extra={"errors": errors})
    return values


def _media_type(request: HttpRequest) -> str:
    return (request.META.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()


def read_events(request: HttpRequest) -> tuple[str, list[Any]]:
    """Return the content mode ("structured", "binary" or "batch") and the events of the request."""
    media_type = _media_type(request)
    ce_headers = {k: v for k, v in request.META.items() if k.startswith(_HEADER_PREFIX)}

    if media_type == BATCH:
        events = _json(bounded_body(request), batch=True)
        if not isinstance(events, list):
            raise MalformedRequest("a batch is a JSON array of events")
        if not events:
            raise MalformedRequest("the batch is empty")
        if len(events) > settings.THREADLINE_MAX_BATCH:
            raise PayloadTooLarge(
                f"the batch has {len(events)} events; the limit is {settings.THREADLINE_MAX_BATCH}",
                extra={"max_batch": settings.THREADLINE_MAX_BATCH},
            )
        return "batch", events

    if media_type == STRUCTURED:
        event = _json(bounded_body(request))
        if not isinstance(event, dict):
            raise MalformedRequest("a structured-mode event is a JSON object")
        return "structured", [event]

    if ce_headers:
        if media_type != "application/json" and not (
            media_type.startswith("application/") and media_type.endswith("+json")
        ):
            raise UnsupportedMediaType(
                "binary-mode event data must be JSON: send Content-Type: application/json"
            )
        event: dict[str, Any] = _header_values(ce_headers)
        event["datacontenttype"] = request.META.get("CONTENT_TYPE")
        event["data"] = _json(bounded_body(request), within=("data",))
        return "binary", [event]

    raise UnsupportedMediaType(
        f"Content-Type {media_type or '(none)'!r} is not a CloudEvents mode: use {STRUCTURED} (one event), "
        f"{BATCH} (an array), or ce-* headers with application/json (binary mode)"
    )
