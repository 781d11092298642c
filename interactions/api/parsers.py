"""JSON request bodies of the REST API, read the way the hub reads every JSON body (see hub.storable)."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

from hub import storable


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, made safe for hostile bodies: every problem is a 400 naming its field.

    DRF's own raised RecursionError (a 500) for a body nested ten thousand deep and let `1e400` through as
    infinity, and it let NUL and lone surrogates reach the services in keys and fields no serializer reads,
    and kept the last of a key named twice.
    """

    def parse(self, stream, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
        except (UnicodeError, LookupError) as exc:
            # UnicodeError, not only its UnicodeDecodeError: some codecs (punycode, undefined) raise it
            # plain; LookupError: a codec that is not a text encoding (hex, base64)
            raise ParseError(f"the body is not {encoding}") from exc
        try:
            value = storable.loads(text)
        except storable.Unreadable as exc:  # nested too deep, or a key named twice
            raise ValidationError({storable.field_name(exc.path): [str(exc)]}) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        if found := storable.json_problem(value):
            path, message = found
            raise ValidationError({storable.field_name(path): [message]})
        return value
