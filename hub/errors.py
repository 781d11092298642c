"""The error hierarchy every layer raises: one root, so each interface (HTTP, websocket) renders them all.

Errors say what went wrong, never how to transport it: the HTTP status and the websocket error code of each
class are decided at the interface (interactions.api.problems, channels_app.errors).
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A failure the caller can act on: a sentence for people and `extra` fields for programs."""

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class NotFound(ApplicationError):
    """The thing named does not exist."""


class WrongExpectedVersion(ApplicationError):
    """An append named the version it expected a stream to be at, and the stream had moved on."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream!r} is at version {actual}, the append expected {expected}",
            extra={"stream": stream, "expected_version": expected, "actual_version": actual},
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


class UnstorableEvents(ApplicationError):
    """Events the log would store but a reader could not read back (see hub.storable); nothing was written.

    `errors` names each by its index in the append and its field.
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        count = len({e["index"] for e in errors})
        super().__init__(f"{count} event(s) cannot be stored; nothing was written", extra={"errors": errors})
        self.errors = errors
