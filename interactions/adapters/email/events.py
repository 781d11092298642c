"""A parsed e-mail as the CloudEvent the ingest pipeline takes: a `message.received` on channel email."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

from interactions.adapters.email.message import MalformedEmail, ParsedEmail
from interactions.catalogue.schemas import SHORT_MAX, TEXT_MAX
from interactions.errors import InvalidIdentifier
from interactions.identity.identifiers import parse_identifier
from interactions.privacy.redaction import cut

MAX_REFERENCES = 100  # the catalogue's bound; the most recent are kept
MAX_ATTACHMENTS = 50
# To and Cc: the first ones are kept, each at most an address's 320 characters, and the number left out is
# recorded (a message to 60,000 addresses made a 2.6 MB event).
MAX_RECIPIENTS = 100
# A Date header is the sender's clock: trusted only when it is close to the arrival (a message held by a
# server for days keeps its date; one dated in the future or years back is dated on arrival).
DATE_TRUSTED_PAST = timedelta(days=30)
DATE_TRUSTED_FUTURE = timedelta(minutes=5)


def _key(value: str) -> str:
    # Base32 of a SHA-256: fixed length whatever the Message-ID's, and almost never 13 digits in a row, so it
    # is never mistaken for a card number (an id holding one is refused, and Message-IDs are full of
    # timestamps). Lower case, no separator.
    return base64.b32encode(hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()).decode().lower()


def event_id(parsed: ParsedEmail, about: str) -> str:
    """The event's id: from the Message-ID and the identifier the message is about (its sender's, or a
    bounce's failed recipient's), so a second delivery of one message is a duplicate, but anyone else's
    message that reuses the Message-ID is not: Message-IDs are chosen by the sender, and a message sent first
    with a customer's next Message-ID would otherwise have that customer's mail dropped as its duplicate.
    Without a Message-ID, from the raw message's bytes."""
    if parsed.message_id:
        return "email-" + _key(f"{about}\n{parsed.message_id}").rstrip("=")
    return "email-raw-" + base64.b32encode(bytes.fromhex(parsed.raw_sha256)).decode().lower().rstrip("=")


def _ref(value: str | None) -> str | None:
    if value and len(value.encode("utf-8", "surrogatepass")) <= SHORT_MAX:
        return value
    return None


def _cut(value: str | None, limit: int) -> str | None:
    return _text(value, limit) if value else None


def _text(value: str, limit: int) -> str:
    """Text cleaned, then cut: cut first, a card number split by a NUL was cut at the NUL and its first
    twelve digits, joined up once the NUL was dropped, stayed unmasked (too few for a card number)."""
    return cut(_clean(value), limit)


# A lone surrogate that is not a surrogate escape of a raw byte: what a UTF-7 part (`+2AA-`), or one in a
# Python codec named as its charset, decodes to.
_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def _clean(value: Any) -> Any:
    """Text as the log can hold it. Mail is old and lax: a header of raw 8-bit bytes comes out of the parser
    as surrogate escapes, which become U+FFFD here, as does any other lone surrogate (the UTF-7 `+2AA-` made
    a 500, and the mail server bounced the customer's mail or tried again), and a NUL (which no log reader
    could read back) is dropped; refusing the message for them would bounce a customer's mail over their
    client's habits."""
    if isinstance(value, str):
        value = _LONE_SURROGATE.sub("\ufffd", value)
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "")
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _mailto(address: str, field: str) -> str:
    # The parser hands an address header's raw 8-bit bytes over as surrogate escapes: an internationalised
    # domain sent as UTF-8 (jane@exämple.com, RFC 6532) is read back as the UTF-8 it is. Bytes that are not
    # UTF-8 are refused rather than read with replacements (as the parser reads them in other headers, a
    # bounce's Final-Recipient), which would make one identifier of different addresses.
    try:
        address = address.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError as exc:
        raise MalformedEmail(f"{field}: the address is not UTF-8") from exc
    if "\ufffd" in address:
        raise MalformedEmail(f"{field}: the address is not UTF-8")
    try:
        return parse_identifier(f"mailto:{address}").uri
    except InvalidIdentifier as exc:
        raise MalformedEmail(f"{field}: {exc}") from exc


def _bounced(parsed: ParsedEmail) -> str | None:
    """A bounce's subject: the first failed recipient the hub can read as a mail identifier, else the one
    address the returned message was sent to; None for any other message, or a bounce naming neither (it
    is then its sender's, as any message)."""
    if parsed.automated != "bounce":
        return None
    named = [(r, "Final-Recipient") for r in parsed.bounced_recipients]
    for address, field in [*named, (parsed.returned_to, "the returned message's To")]:
        if address is None:
            continue
        try:
            return _mailto(address, field)
        except MalformedEmail:
            continue
    return None


def email_event(parsed: ParsedEmail, *, source: str, now: datetime) -> dict[str, Any]:
    """The structured-mode CloudEvent of one inbound message.

    A bounce is about the recipient whose address failed, not about the mail server that reports it, so
    its subject is that address; an auto-reply's is its sender's, like any message.
    """
    subject = _bounced(parsed) or _mailto(parsed.sender, "From")
    text = _clean(parsed.text)
    data: dict[str, Any] = {
        "channel": "email",
        "direction": "inbound",
        "text": cut(text, TEXT_MAX),
        "from": parsed.sender,
    }
    if len(text) > TEXT_MAX:
        data["text_truncated"] = True
    optional = {
        "subject_line": _cut(parsed.subject, SHORT_MAX),
        "sender_name": _cut(parsed.sender_name, 128),
        "message_ref": _ref(parsed.message_id),
        "conversation_ref": _ref(parsed.message_id),
        "in_reply_to": _ref(parsed.in_reply_to),
        "automated": parsed.automated,
        "bounce": parsed.bounce,
    }
    data.update({key: value for key, value in optional.items() if value})
    references = [r for r in parsed.references if _ref(r)][-MAX_REFERENCES:]
    if references:
        data["references"] = references
    for key, addresses in (("to", parsed.to), ("cc", parsed.cc)):
        if addresses:
            data[key] = [_text(a, 320) for a in addresses[:MAX_RECIPIENTS]]
        if len(addresses) > MAX_RECIPIENTS:
            data[f"{key}_omitted"] = len(addresses) - MAX_RECIPIENTS
    if parsed.bounced_recipients:
        data["bounced_recipients"] = [_text(r, 320) for r in parsed.bounced_recipients][:100]
    if parsed.attachments:
        data["attachments"] = [
            {
                "name": _text(a.name, 255),
                "content_type": _text(a.content_type, 255),
                "size": a.size,
                "sha256": a.sha256,
            }
            for a in parsed.attachments[:MAX_ATTACHMENTS]
        ]
        if len(parsed.attachments) > MAX_ATTACHMENTS:
            data["attachments_omitted"] = len(parsed.attachments) - MAX_ATTACHMENTS
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id(parsed, subject),
        "source": source,
        "type": "message.received",
        "subject": subject,
        "data": _clean(data),
    }
    if parsed.date is not None and now - DATE_TRUSTED_PAST <= parsed.date <= now + DATE_TRUSTED_FUTURE:
        event["time"] = parsed.date.isoformat()
    return event
