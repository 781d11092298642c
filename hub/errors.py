"""The error hierarchy every layer raises: one root, so one API handler can render them all."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A failure the caller can act on. `status` and `code` let the interface layer render it."""

    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}


class NotFound(ApplicationError):
    status = 404
    code = "not-found"
    title = "Not found"


class WrongExpectedVersion(ApplicationError):
    """An append named the version it expected a stream to be at, and the stream had moved on."""

    status = 409
    code = "version-conflict"
    title = "Stream version conflict"

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream!r} is at version {actual}, the append expected {expected}",
            extra={"stream": stream, "expected_version": expected, "actual_version": actual},
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


class AppendOnlyViolation(ApplicationError):
    """Something tried to change or remove a recorded event; the database refused it."""

    status = 500
    code = "append-only"
    title = "The event log is append-only"
