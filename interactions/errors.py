"""Errors of the domain, all ApplicationError subclasses; each interface decides how to render them."""

from __future__ import annotations

from typing import Any

from hub.errors import ApplicationError


class Forbidden(ApplicationError):
    """The token's role (or its source prefix) does not allow this."""


class InvalidRequest(ApplicationError):
    """A request's fields are wrong; `extra["errors"]` names each field, when known."""


class Conflict(ApplicationError):
    """The thing is not in a state that allows this (resolving a resolved thread, a finished callback)."""


class InvalidEvents(ApplicationError):
    """One or more events failed validation; `errors` names each by index and field. Nothing was written."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        count = len({e["index"] for e in errors})
        super().__init__(
            f"{count} event(s) failed validation; nothing was written",
            extra={"errors": errors},
        )
        self.errors = errors


class InvalidIdentifier(ValueError):
    """An identifier URI that does not parse (raised by interactions.identity)."""
