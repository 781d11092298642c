"""Domain errors as websocket error frames: the `code` each error class gets (HTTP has its own mapping)."""

from __future__ import annotations

from hub.errors import ApplicationError, NotFound, WrongExpectedVersion
from interactions.errors import Conflict, Forbidden

# The first class an error is an instance of wins; anything else is a bad frame.
CODES: list[tuple[type[ApplicationError], str]] = [
    (Forbidden, "forbidden"),
    (NotFound, "not_found"),
    (Conflict, "conflict"),
    (WrongExpectedVersion, "conflict"),
]


def error_code(exc: ApplicationError, default: str = "bad_frame") -> str:
    return next((code for cls, code in CODES if isinstance(exc, cls)), default)
