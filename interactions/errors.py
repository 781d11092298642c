"""Domain errors of ingestion and the API, all ApplicationError subclasses rendered as problem+json."""

from __future__ import annotations

from typing import Any

from hub.errors import ApplicationError


class MalformedRequest(ApplicationError):
    status = 400
    code = "malformed-request"
    title = "Malformed request"


class InvalidRequest(ApplicationError):
    status = 400
    code = "invalid-request"
    title = "Invalid request"


class UnsupportedMediaType(ApplicationError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class PayloadTooLarge(ApplicationError):
    status = 413
    code = "payload-too-large"
    title = "Payload too large"


class Forbidden(ApplicationError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class InvalidEvents(ApplicationError):
    """One or more events failed validation; `errors` names each by index and field. Nothing was written."""

    status = 422
    code = "invalid-events"
    title = "Invalid events"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        count = len({e["index"] for e in errors})
        super().__init__(
            f"{count} event(s) failed validation; nothing was written",
            extra={"errors": errors},
        )
        self.errors = errors


class InvalidIdentifier(ValueError):
    """An identifier URI that does not parse (raised by interactions.identifiers)."""
