"""Reading an inbound message as it streams in: the raw body (`message/rfc822`) or a form's `email` field.

Nothing here holds the request whole: each chunk goes straight into the e-mail parser (and, in a form,
through a streaming multipart parser first), so a 25 MB message costs its parsed form, not its bytes twice.
"""

from __future__ import annotations

from collections.abc import Iterable

import multipart

from interactions.adapters.email.message import EmailTooLarge, MalformedEmail, ParsedEmail, RawMessageReader

RAW_TYPES = frozenset({"message/rfc822", "message/global"})
FORM_TYPE = "multipart/form-data"
FIELD = "email"  # the field inbound-parse services post the raw message in
# A form carries other fields beside the message (envelope, SPF and DKIM results, charsets): they are read
# and dropped, within this much more than the message's own limit.
FORM_OVERHEAD = 1024 * 1024


class UnsupportedEmailType(ValueError):
    """The body is neither a raw message nor a form."""


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def request_limit(content_type: str, limit: int) -> int:
    """The most bytes a request of this type may hold: the message, plus the other fields of a form."""
    return limit + FORM_OVERHEAD if media_type(content_type) == FORM_TYPE else limit


def _boundary(content_type: str) -> str:
    _, params = multipart.parse_options_header(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise MalformedEmail("a multipart/form-data body needs a boundary parameter")
    return boundary


def read_email(content_type: str, chunks: Iterable[bytes], *, limit: int) -> ParsedEmail:
    """Parse the message a request carries, as its chunks arrive.

    Raises UnsupportedEmailType for another media type, EmailTooLarge past `limit` bytes of message (or of
    the form around it), MalformedEmail for a form without the field or a body that is not a message.
    """
    kind = media_type(content_type)
    reader = RawMessageReader(limit)
    if kind in RAW_TYPES:
        for chunk in chunks:
            reader.feed(chunk)
        return reader.close()
    if kind != FORM_TYPE:
        raise UnsupportedEmailType(
            "send the raw message as Content-Type: message/rfc822, or as the `email` field of a "
            "multipart/form-data body"
        )
    total = 0
    found = False
    in_field = False
    try:
        with multipart.PushMultipartParser(_boundary(content_type), max_segment_count=64) as parser:
            for chunk in chunks:
                total += len(chunk)
                if total > limit + FORM_OVERHEAD:
                    raise EmailTooLarge(f"the form is over the limit of {limit + FORM_OVERHEAD} bytes")
                for event in parser.parse(chunk):
                    if isinstance(event, multipart.MultipartSegment):
                        in_field = event.name == FIELD and not found
                        found = found or in_field
                    elif event is None:
                        in_field = False
                    elif in_field:
                        reader.feed(bytes(event))
    except multipart.MultipartError as exc:
        raise MalformedEmail(f"the form cannot be read: {exc}") from exc
    if not found:
        raise MalformedEmail(f"the form has no `{FIELD}` field holding the raw message")
    return reader.close()
