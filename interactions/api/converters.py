"""Path converters of the API's URLs."""

from __future__ import annotations

import uuid


class AnyCaseUUID:
    """A UUID in either case (RFC 9562 asks readers to accept both; Django's `uuid` takes lower case only,
    so an id a client upper-cased was a 404). The view gets a `uuid.UUID`; URLs are written lower case."""

    regex = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: uuid.UUID | str) -> str:
        return str(value).lower()
