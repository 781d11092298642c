"""The CloudEvents HTTP binding: structured, binary and batch requests become a list of event objects."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from hub.errors import ApplicationError

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
_HEADER_PREFIX = "HTTP_CE_"


class MalformedRequest(ApplicationError):
    """The body cannot be read as what its media type says (not UTF-8, not JSON, empty)."""


class UnsupportedMediaType(ApplicationError):
    """The media type is not one of the CloudEvents modes."""


class PayloadTooLarge(ApplicationError):
    """The body or the batch is over its limit."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _body(request: HttpRequest) -> bytes:
    limit = settings.THREADLINE_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise MalformedRequest("Content-Length is not a number") from exc
    if declared > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise PayloadTooLarge(f"the body is over the limit of {limit} bytes") from exc
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; the limit is {limit}")
    return body


def _json(body: bytes) -> Any:
    if not body.strip():
        raise MalformedRequest("the body is empty")
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise MalformedRequest("the body is not UTF-8") from exc
    except ValueError as exc:
        raise MalformedRequest(f"the body is not valid JSON: {exc}") from exc


def _media_type(request: HttpRequest) -> str:
    return (request.META.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()


def read_events(request: HttpRequest) -> tuple[str, list[Any]]:
    """Return the content mode ("structured", "binary" or "batch") and the events of the request."""
    media_type = _media_type(request)
    ce_headers = {k: v for k, v in request.META.items() if k.startswith(_HEADER_PREFIX)}

    if media_type == BATCH:
        events = _json(_body(request))
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
        event = _json(_body(request))
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
        event: dict[str, Any] = {
            # CloudEvents HTTP binding: header values are percent-encoded.
            k[len(_HEADER_PREFIX) :].lower(): unquote(v)
            for k, v in ce_headers.items()
        }
        event["datacontenttype"] = request.META.get("CONTENT_TYPE")
        event["data"] = _json(_body(request))
        return "binary", [event]

    raise UnsupportedMediaType(
        f"Content-Type {media_type or '(none)'!r} is not a CloudEvents mode: use {STRUCTURED} (one event), "
        f"{BATCH} (an array), or ce-* headers with application/json (binary mode)"
    )
