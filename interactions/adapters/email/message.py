"""One raw RFC 822 message parsed with the standard library (`policy.default`) into what the hub records."""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import errors as email_errors
from email import headerregistry, policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesFeedParser, HeaderParser
from email.utils import collapse_rfc2231_value, parseaddr, parsedate_to_datetime
from typing import Any

from interactions.adapters.email.text import html_to_text, strip_reply

# What a header may throw at us: the parser itself never raises on bad input (it records defects), but
# reading a mangled header or decoding a part with an unknown charset can.
# RecursionError: the standard library's header parser recurses into nested comments, "((((...))))".
_HEADER_ERRORS = (
    email_errors.HeaderParseError,
    ValueError,
    IndexError,
    TypeError,
    AttributeError,
    RecursionError,
)
TOO_DEEP = "the message nests parts or header comments too deeply to read"

# The standard library's header parser takes time that grows with the square of a header's length: a To of
# 64 KiB of short words took 10 s, a Subject of 40,000 RFC 2047 encoded words (560 KB) 18 s; at 8 KiB the
# worst shapes measured take a quarter of a second. A header is parsed from at most this many characters of
# it, cut at the last comma (address lists) or space before the bound; References from its last ones (the
# most recent ids are last, and they are the ones kept). The message is kept: a mail server must not bounce
# it over its sender's habits. Only a From over the bound is refused: a sender is not guessed from part of
# one.
HEADER_MAX = 8 * 1024
_ADDRESS_HEADERS = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc", "resent-to", "resent-cc"})


def _bounded(name: str, value: str) -> str:
    """A header's value as parsed: whole up to HEADER_MAX characters, else cut between words."""
    value = value.replace("\r", "").replace("\n", "")  # folding, as the parser would drop it
    if len(value) <= HEADER_MAX:
        return value
    if name.lower() == "references":
        tail = value[-HEADER_MAX:]
        start = tail.find("<")  # the first whole id
        return tail[start:] if start >= 0 else tail.split(None, 1)[-1]
    head = value[:HEADER_MAX]
    cut = head.rfind(",") if name.lower() in _ADDRESS_HEADERS else -1
    if cut <= 0:
        cut = max(head.rfind(" "), head.rfind("\t"))
    return head[:cut] if cut > 0 else head


# A header whose structured parse fails is read as plain text (see _BoundedPolicy).
_Unstructured = type("_Unstructured", (headerregistry.UnstructuredHeader, headerregistry.BaseHeader), {})
# What the standard library's structured header parsers raise on a malformed MIME parameter: IndexError for
# `charset*` with no value, UnicodeDecodeError for `x*=utf-16''%41` (an odd byte), ValueError for a NUL in
# an RFC 2231 charset's name, LookupError for an unknown one.
_PARAMETER_ERRORS = (*_HEADER_ERRORS, LookupError)


# Bounding each header is not enough: a message of many parts, each with a hostile Content-Type, made the
# parser read its headers again and again (1 MB of 1,385 parts with 100 parameters each took 47 s; 25 MB
# would take many minutes). Per message, the parts are counted and the structured header parsing is
# budgeted: a header value already parsed is not parsed again (a part's Content-Type was parsed about ten
# times), and past MAX_PARTS parts or HEADER_WORK_MAX characters of distinct header values (each parse
# counted at least PARSE_COST) the message is refused as malformed: a mail server bounces it to its
# sender, who learns why. Real mail is far inside both: Exchange Online allows 250 attachments, and a
# message's headers that the hub reads (bounded at HEADER_MAX each) come to some tens of kilobytes.
MAX_PARTS = 1_000
HEADER_WORK_MAX = 256 * 1024
PARSE_COST = 64
TOO_MANY_PARTS = f"the message has more than {MAX_PARTS:,} MIME parts"
# The parser holds a part's lines one object each (about 65 bytes a line besides its text) until it joins
# them: a 5 MB message of empty lines (or of short header fields, or an attachment of short lines not
# encoded in base64) grew the process by 181 MB, so a 25 MB one would take about 0.9 GB. Past MAX_LINES
# lines the message is refused as malformed, before the parser is given them. Mail of lines of the usual
# length is far inside: 25 MB of base64 (76 characters a line) is about 340,000 lines.
MAX_LINES = 500_000
TOO_MANY_LINES = f"the message has more than {MAX_LINES:,} lines"
# A header field costs more (about 195 bytes: its line, then its name and value kept apart): 2 MB of short
# fields grew the process by 68 MB. Real mail has some tens of fields a part.
MAX_HEADER_FIELDS = 10_000
TOO_MANY_FIELDS = f"the message has more than {MAX_HEADER_FIELDS:,} header fields"
TOO_MUCH_HEADER = f"the message's MIME headers are over {HEADER_WORK_MAX:,} characters in all"


class _TooMuchWork(Exception):
    """A message past its parts or header budget. Not a ValueError, so that no reader of a header that
    treats a bad one as absent swallows it; RawMessageReader turns it into MalformedEmail."""


class _Work:
    """One message's parts and header parsing so far (see MAX_PARTS)."""

    def __init__(self) -> None:
        self.parts = 0
        self.fields = 0
        self.spent = 0
        self.parsed: dict[tuple[str, str], Any] = {}

    def part(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise _TooMuchWork(TOO_MANY_PARTS)

    def field(self) -> None:
        self.fields += 1
        if self.fields > MAX_HEADER_FIELDS:
            raise _TooMuchWork(TOO_MANY_FIELDS)

    def spend(self, value: str) -> None:
        self.spent += len(value) + PARSE_COST
        if self.spent > HEADER_WORK_MAX:
            raise _TooMuchWork(TOO_MUCH_HEADER)


class _BoundedPolicy(policy.EmailPolicy):
    """`policy.default`, with every header parsed from at most HEADER_MAX characters of it, and a header
    the structured parser fails on read as plain text rather than raising (inside the parser, while it reads
    a part's Content-Type: a 500 and the message lost). A clone with `work` (one per message read) parses
    each distinct header value once, within that message's budget."""

    work: _Work | None = None

    def header_source_parse(self, sourcelines):  # type: ignore[no-untyped-def]
        if self.work is not None:  # one header field read from the message: counted
            self.work.field()
        return super().header_source_parse(sourcelines)

    def header_fetch_parse(self, name, value):  # type: ignore[no-untyped-def]
        if isinstance(value, str) and len(value) > HEADER_MAX:
            value = _bounded(name, value)
        work = self.work
        if work is None or not isinstance(value, str):
            return self._parse(name, value)
        key = (name.lower(), value)
        header = work.parsed.get(key)
        if header is None:
            work.spend(value)
            header = work.parsed[key] = self._parse(name, value)
        return header

    def _parse(self, name, value):  # type: ignore[no-untyped-def]
        try:
            return super().header_fetch_parse(name, value)
        except RecursionError:
            raise  # nested comments: the caller says the message nests too deeply
        except _PARAMETER_ERRORS:
            return _Unstructured(name, value.replace("\r", "").replace("\n", ""))


POLICY = _BoundedPolicy()
# A forwarded message (message/rfc822) is measured and hashed as it is written out again. policy.default
# refolds every long header line, parsing it whole on the way (a 128 KB To in a forwarded message took 22 s,
# past the HEADER_MAX bound), and raises on one it cannot parse (the whole mail refused with a 400): its
# lines are written as they came instead, and no header is parsed.
_AS_RECEIVED = POLICY.clone(refold_source="none")


class MalformedEmail(ValueError):
    """The message lacks what the hub needs (a sender address) or cannot be read as a message at all."""


class EmailTooLarge(ValueError):
    """The message is over the route's size limit; nothing of it is kept."""


@dataclass(frozen=True)
class AttachmentInfo:
    """An attachment as recorded: never its content, only what lets someone recognise it."""

    name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ParsedEmail:
    sender: str  # the From address
    sender_name: str | None
    to: list[str]
    cc: list[str]
    subject: str | None
    message_id: str | None  # as written, angle brackets included: "<abc@example.com>"
    in_reply_to: str | None
    references: list[str]
    date: datetime | None
    text: str  # the new text: HTML turned into text, quoted reply and signature cut
    attachments: list[AttachmentInfo]
    automated: str | None = None  # "auto-reply", "bounce" or "read-receipt"
    bounce: str | None = None  # "hard" (5.x.x) or "soft" (4.x.x)
    bounced_recipients: list[str] = field(default_factory=list)
    returned_message_id: str | None = None  # a bounce's or read receipt's original message
    returned_to: str | None = None  # and the one address it was sent to, if it names exactly one
    raw_sha256: str = ""
    size: int = 0


_CHUNK = 1024 * 1024  # characters of an attachment's encoded content decoded at a time


_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]+")
# Whole quads of base64 as binascii.a2b_base64 reads them: a '=' before the third character of a quad, or a
# lone one before its fourth followed by more data, is ignored; '==' before the third or '=' before the
# fourth ends the data (_LAST_QUAD), and what follows is not read.
_QUADS = re.compile(r"(?:=*[A-Za-z0-9+/]=*[A-Za-z0-9+/]=?[A-Za-z0-9+/][A-Za-z0-9+/])*")
_LAST_QUAD = re.compile(r"=*[A-Za-z0-9+/]=*[A-Za-z0-9+/](?:==|=?[A-Za-z0-9+/]=)")


def _base64_decoded(payload: str):
    """Base64 decoded a slice at a time, as the standard library decodes it whole (leniently): characters
    outside the alphabet are dropped before the slices are cut into quads, so a stray '!' or '-' does not
    shift every quad after it."""
    carry = ""
    for start in range(0, len(payload), _CHUNK):
        text = carry + _NOT_BASE64.sub("", payload[start : start + _CHUNK])
        # As a rule '=' is only in the last quad: the quads before the first one are counted by their length.
        pad = text.find("=")
        quads = _QUADS.match(text, pad - pad % 4) if pad >= 0 else None  # matches "" at the least
        end = quads.end() if quads else len(text) - len(text) % 4
        rest = text[end:]
        last = _LAST_QUAD.match(rest) if pad >= 0 else None
        if last:
            yield binascii.a2b_base64((text[:end] + rest[: last.end()]).encode("ascii"))
            return
        yield binascii.a2b_base64(text[:end].encode("ascii"))
        data = rest.replace("=", "")  # under a quad: only a '=' after its second character still counts
        carry = data + ("=" if len(data) == 2 and rest.endswith("=") else "")
    data = carry.replace("=", "")
    if len(data) >= 2:  # a last quad without its padding; a single character decodes to nothing
        yield binascii.a2b_base64((data + "=" * (-len(data) % 4)).encode("ascii"))


def _decoded(payload: str, encoding: str):
    """An attachment's content decoded a slice at a time, as `get_payload(decode=True)` decodes it whole."""
    if encoding == "base64":
        yield from _base64_decoded(payload)
        return
    start = 0
    while start < len(payload):
        # Whole lines at a time: a quoted-printable soft line break ends its line.
        end = payload.find("\n", start + _CHUNK)
        end = len(payload) if end < 0 else end + 1
        piece = payload[start:end].encode("ascii", "surrogateescape")
        yield binascii.a2b_qp(piece) if encoding == "quoted-printable" else piece
        start = end


def _digests(payload: str, encoding: str) -> dict[bool, tuple[int, str]]:
    """(size, SHA-256) of the decoded content, as it is (False) and without the payload's last line ending
    (True): the parser takes that line ending off a part of a multipart message only after handing the
    part its payload, as the line break that belongs to the boundary after it."""
    eol = re.search(r"(?:\r\n|\n|\r)\Z", payload)
    if eol is None or encoding == "base64":  # line breaks are not content in base64
        size, digest = 0, hashlib.sha256()
        for chunk in _decoded(payload, encoding):
            size += len(chunk)
            digest.update(chunk)
        return dict.fromkeys((False, True), (size, digest.hexdigest()))
    # The last line ending decodes on its own in the other encodings: decode it apart from the rest.
    body, ending = payload[: eol.start()], payload[eol.start() :]
    size, digest = 0, hashlib.sha256()
    for chunk in _decoded(body, encoding):
        size += len(chunk)
        digest.update(chunk)
    stripped = (size, digest.hexdigest())
    tail = b"".join(_decoded(ending, encoding))
    digest.update(tail)
    return {False: (size + len(tail), digest.hexdigest()), True: stripped}


class _LeanMessage(EmailMessage):
    """A message part that keeps an attachment's size and SHA-256, not its content.

    The parser hands each part its whole payload once it has read it; an attachment's is decoded a slice at
    a time into its digest and dropped at once, so a large attachment is never also held decoded, and the
    parsed message that stays in memory is the size of its text, not of its files.
    """

    digests: dict[bool, tuple[int, str]] | None = None

    def __init__(self, policy=None):  # type: ignore[no-untyped-def]
        super().__init__(policy) if policy is not None else super().__init__()
        work = getattr(self.policy, "work", None)
        if work is not None:
            work.part()

    def set_payload(self, payload, charset=None):  # type: ignore[override]
        if isinstance(payload, str) and payload and not self.is_multipart() and _is_attachment(self):
            encoding = str(self.get("Content-Transfer-Encoding", "")).strip().lower()
            self.digests = _digests(payload, encoding)
            payload = ""
        super().set_payload(payload, charset)


class RawMessageReader:
    """Feeds a message to `BytesFeedParser` as its bytes arrive, so the raw bytes are never held whole.

    Counts and hashes as it goes; past `limit` bytes it raises EmailTooLarge and stops feeding.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.lines = 0
        self._hash = hashlib.sha256()
        self._parser = BytesFeedParser(_LeanMessage, policy=POLICY.clone(work=_Work()))

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise EmailTooLarge(f"the message is over the limit of {self.limit} bytes")
        # Line breaks as the parser splits them: LF, CR LF, a lone CR (a CR LF cut by a chunk counts twice).
        self.lines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        if self.lines > MAX_LINES:
            raise MalformedEmail(TOO_MANY_LINES)
        self._hash.update(chunk)
        try:
            self._parser.feed(chunk)
        except _TooMuchWork as exc:
            raise MalformedEmail(str(exc)) from exc
        except RecursionError as exc:  # the parser recurses into nested multiparts and message/rfc822
            raise MalformedEmail(TOO_DEEP) from exc
        except _PARAMETER_ERRORS as exc:  # not expected (headers that fail are read as text): never a 500
            raise MalformedEmail(f"the message cannot be read ({type(exc).__name__})") from exc

    def close(self) -> ParsedEmail:
        if not self.size:
            raise MalformedEmail("the message is empty")
        try:
            message = self._parser.close()
            return parse_message(message, raw_sha256=self._hash.hexdigest(), size=self.size)
        except MalformedEmail:
            raise
        except _TooMuchWork as exc:
            raise MalformedEmail(str(exc)) from exc
        except RecursionError as exc:
            raise MalformedEmail(TOO_DEEP) from exc
        except _PARAMETER_ERRORS as exc:  # as in feed
            raise MalformedEmail(f"the message cannot be read ({type(exc).__name__})") from exc


def parse_bytes(raw: bytes, *, limit: int | None = None) -> ParsedEmail:
    """Parse a whole message held in memory (tests, small messages)."""
    reader = RawMessageReader(limit if limit is not None else len(raw))
    reader.feed(raw)
    return reader.close()


# --- headers ----------------------------------------------------------------------------------------


def _header(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
    except _HEADER_ERRORS:
        return None
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _addresses(message: Message, name: str) -> list[Address]:
    try:
        header = message.get(name)
        addresses = list(getattr(header, "addresses", ()) or ())
    except _HEADER_ERRORS:
        return []
    return [a for a in addresses if a.username and a.domain]


def _sender(message: Message) -> Address:
    """The one address the From header names.

    A From the parser reads cleanly as one address is that address. One it flags (an InvalidHeaderDefect)
    or that holds more or fewer than one address is read for its angle address, `<...>`: used when the
    parser found exactly one and no bracket it could not place, else the message is refused. Filing it
    under the first address-like word would let `victim@example.com <attacker@evil.example>` or
    `victim@example.com)<attacker@evil.example>` (which the parser reads as victim@example.com, the
    CVE-2023-27043 kind of misreading) write into someone else's record.
    """
    try:
        header = message.get("From")
        addresses = list(getattr(header, "addresses", ()) or ())
        defects = list(getattr(header, "defects", ()) or ())
        tree = getattr(header, "_parse_tree", None)  # the parser's tokens, kept by the header object
    except _HEADER_ERRORS:
        raise MalformedEmail("the message has no From address") from None
    clean = not any(isinstance(d, email_errors.InvalidHeaderDefect) for d in defects)
    if clean and len(addresses) == 1 and addresses[0].username and addresses[0].domain:
        return addresses[0]
    angles: list[Any] = []
    misplaced = 0
    stack = [tree] if tree is not None else []
    while stack:
        token = stack.pop()
        kind = getattr(token, "token_type", "")
        if kind == "angle-addr":
            angles.append(token)
        elif kind == "misplaced-special" and str(token) in "<>":
            misplaced += 1
        elif isinstance(token, list):
            stack.extend(token)
    if len(angles) == 1 and not misplaced:
        try:
            chosen = Address(addr_spec=angles[0].addr_spec)
        except _HEADER_ERRORS:
            chosen = None
        if chosen is not None and chosen.username and chosen.domain:
            names = [a.display_name for a in addresses if a.addr_spec == chosen.addr_spec]
            return Address(display_name=names[0] if names else "", addr_spec=chosen.addr_spec)
    if not addresses and not angles:
        raise MalformedEmail("the message has no From address")
    raise MalformedEmail(
        "From: the header does not name one sender address (it is malformed, or holds several): "
        "the message is not filed under a guess"
    )


def _msg_ids(value: str | None) -> list[str]:
    """Message-IDs in a header, each as `<...>`: In-Reply-To and References list them separated by space.

    A header written without angle brackets (seen from broken clients) counts as one id per word."""
    if not value:
        return []
    ids: list[str] = []
    position = 0
    while (start := value.find("<", position)) >= 0 and (end := value.find(">", start + 1)) >= 0:
        inner = value[start + 1 : end].strip()  # each id is read once: the work grows with the header
        if inner:
            ids.append(f"<{inner}>")
        position = end + 1
    if not ids:
        ids = [f"<{word.strip('<>')}>" for word in value.split() if word.strip("<>")]
    return ids


def _date(message: Message) -> datetime | None:
    value = _header(message, "Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None


# --- automatic replies, bounces and read receipts ---------------------------------------------------


def _automated(message: Message) -> str | None:
    """ "auto-reply" when the message says a machine wrote it (RFC 3834 and the common vendor headers).

    `Precedence: bulk` and `junk` count too: no person's mail client sets them, only responders and mass
    mailers; `list` does not (a person writing through a mailing list).
    """
    auto_submitted = (_header(message, "Auto-Submitted") or "no").split(";")[0].strip().lower()
    if auto_submitted != "no":
        return "auto-reply"
    if any(_header(message, name) for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return "auto-reply"
    precedence = (_header(message, "Precedence") or "").strip().lower()
    if precedence in ("auto_reply", "bulk", "junk"):
        return "auto-reply"
    return None


def _status_class(status: str) -> str | None:
    code = status.strip().split()[0] if status.strip() else ""
    return code[0] if code[:1] in ("2", "4", "5") and code[1:2] == "." else None


# The parts of a report (a bounce, a read receipt) that return the message it is about, or its header.
_RETURNED_PARTS = ("message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers")


def _delivery_report(message: Message) -> tuple[str | None, list[str], Message | None] | None:
    """For a delivery status notification (RFC 3464): (hard or soft, the failed recipients, the returned
    message's header); None for any other message."""
    if message.get_content_type() != "multipart/report":
        return None
    if _param(message, "report-type").lower() != "delivery-status":
        return None
    failed: list[str] = []
    seen: set[str] = set()
    classes: set[str] = set()
    returned: Message | None = None
    parts = message.get_payload()
    for part in parts if isinstance(parts, list) else []:
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status"):
            for block in _status_blocks(part):
                status_class = _status_class(_header(block, "Status") or "")
                recipient = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
                action = (_header(block, "Action") or "").lower()
                if not recipient or status_class not in ("4", "5") or action not in ("failed", "delayed", ""):
                    continue
                classes.add(status_class)
                address = _recipient_address(recipient)
                if address and address not in seen:
                    seen.add(address)
                    failed.append(address)
        elif kind in _RETURNED_PARTS:
            returned = returned or _returned_header(part)
    level = "hard" if "5" in classes else ("soft" if "4" in classes else None)
    return level, failed, returned


# The parts of a disposition notification (RFC 8098, and RFC 6533's UTF-8 form) holding its fields.
_DISPOSITION_PARTS = ("message/disposition-notification", "message/global-disposition-notification")


def _is_read_receipt(message: Message) -> bool:
    """Is this a message disposition notification (RFC 8098: a read receipt, `multipart/report;
    report-type=disposition-notification`)? A mail client writes it, not the person."""
    return (
        message.get_content_type() == "multipart/report"
        and _param(message, "report-type").lower() == "disposition-notification"
    )


def _receipt_original(message: Message) -> str | None:
    """The Message-ID of the message a read receipt is about: its Original-Message-ID, else its returned
    message's (message/rfc822 or text/rfc822-headers, as a bounce's); None when it names neither."""
    returned: str | None = None
    parts = message.get_payload()
    for part in parts if isinstance(parts, list) else []:
        kind = part.get_content_type()
        if kind in _DISPOSITION_PARTS:
            # Parsed as a message, its header is the fields; an encoded one's are in its decoded text.
            payload = part.get_payload()
            fields = payload[:1] if isinstance(payload, list) else _header_blocks(_text_of(part), part)[:1]
            ids = _msg_ids(_header(fields[0], "Original-Message-ID")) if fields else []
            if ids:
                return ids[0]
        elif returned is None and kind in _RETURNED_PARTS:
            header = _returned_header(part)
            ids = _msg_ids(_header(header, "Message-ID")) if header is not None else []
            returned = ids[0] if ids else None
    return returned


def _recipient_address(field: str) -> str | None:
    """The address of a Final-Recipient or Original-Recipient field (RFC 3464: `type; address`), or None
    for one that names no mail address: another type (`x400; ...`), a word (`undisclosed-recipients`). Servers
    write the address bare, in angle brackets, with a comment or a display name; each is read as the address
    (they made the whole bounce a 400: the mail server bounced the bounce, and the hard bounce was lost)."""
    kind, separator, value = field.partition(";")
    if not separator:
        kind, value = "rfc822", field
    if kind.strip().lower() not in ("rfc822", "utf-8"):
        return None
    _, address = parseaddr(value.strip())
    if "@" not in address:
        address = value.strip().strip("<>")
    local, at, domain = address.rpartition("@")
    return address if at and local and domain and not any(c.isspace() for c in address) else None


def _header_blocks(text: str, within: Message) -> list[Message]:
    """Blocks of fields separated by blank lines, each read by the standard library's header parser as a
    part of the message `within` is in: counted against its MAX_PARTS, its headers within its budget (2,000
    recipient blocks of a message/global-delivery-status were read here, where the same blocks as
    message/delivery-status were refused, and a 4.6 MB bounce took 30 s)."""
    parser = HeaderParser(policy=within.policy)
    work = getattr(within.policy, "work", None)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = []
    for block in re.split(r"\n[ \t]*\n", text):
        if block.strip():
            if work is not None:
                work.part()
            blocks.append(parser.parsestr(block.strip("\n") + "\n"))
    return blocks


def _status_blocks(part: Message) -> list[Message]:
    """A delivery status part's blocks of fields: the message's, then one per recipient.

    The parser splits message/delivery-status into them itself. message/global-delivery-status (RFC 6533,
    the same fields in UTF-8) it reads as a message like any other message/* part: its first block is that
    message's header, the others its body, read here as message/delivery-status is."""
    payload = part.get_payload()
    if not isinstance(payload, list):  # not parsed as a message (an encoded one): its decoded text
        return _header_blocks(_text_of(part), part)
    if part.get_content_type() == "message/delivery-status" or not payload:
        return payload
    first = payload[0]
    rest = first.get_payload(decode=True)  # bytes as sent: UTF-8 in RFC 6533
    return [first, *_header_blocks(rest.decode("utf-8", "replace") if isinstance(rest, bytes) else "", part)]


def _returned_header(part: Message) -> Message | None:
    """The header of the message a bounce returns (message/rfc822: the message itself; text/rfc822-headers:
    its header block as text), or None when it cannot be read."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload:
        return payload[0]
    try:
        headers = BytesFeedParser(policy=POLICY)
        headers.feed(_text_of(part).encode("utf-8", "replace"))
        return headers.close()
    except _HEADER_ERRORS:
        return None


def _sole_recipient(returned: Message) -> str | None:
    """The one address the returned message was sent to (To and Cc together), or None when it names none or
    several: a bounce naming no failed recipient it can read is then about that address."""
    recipients = {a.addr_spec for name in ("To", "Cc") for a in _addresses(returned, name)}
    return recipients.pop() if len(recipients) == 1 else None


# --- body and attachments ---------------------------------------------------------------------------


def _text_of(part: Message) -> str:
    """A text part's content, decoded; an unknown or wrong charset is read as UTF-8 with replacements."""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except (LookupError, *_HEADER_ERRORS):
        pass
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _is_attachment(part: Message) -> bool:
    # A parameter that cannot be decoded (`filename*=utf-16''%41`, a NUL in its charset) reads as absent.
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except _PARAMETER_ERRORS:
        disposition = ""
    try:
        named = bool(part.get_filename())
    except _PARAMETER_ERRORS:
        named = False
    return disposition == "attachment" or named or part.get_content_maintype() not in ("text", "multipart")


def _param(part: Message, name: str) -> str:
    """A Content-Type parameter as text; one that cannot be decoded reads as absent ("")."""
    try:
        value = part.get_param(name)
        return str(collapse_rfc2231_value(value)) if value else ""
    except _PARAMETER_ERRORS:
        return ""


def _leaves(message: Message):
    """Every leaf part, without descending into a message a part carries (a forwarded or returned one is
    one attachment, not more text), nor into a delivery report's per-recipient blocks."""
    if message.is_multipart() and message.get_content_maintype() == "multipart":
        for part in message.get_payload():  # type: ignore[union-attr]
            yield from _leaves(part)
    else:
        yield message


_REPORT_FIELDS = frozenset(
    {"message/delivery-status", "message/global-delivery-status", "text/rfc822-headers", *_DISPOSITION_PARTS}
)


def _body_and_attachments(message: Message) -> tuple[str, list[Message]]:
    if message.get_content_maintype() == "multipart" and not message.is_multipart():
        # A multipart without a boundary (the parser notes NoBoundaryInMultipartDefect): its parts cannot be
        # told apart. Its body is kept as text, MIME lines and all, rather than lost.
        return strip_reply(_text_of(message)), []
    # Every text/plain part of the body, in order: Apple Mail writes text, an inline image, then the text
    # after it as parts of their own (only the first was kept, and what followed the image was lost).
    plain: list[Message] = []
    html: Message | None = None
    attachments: list[Message] = []
    for part in _leaves(message):
        kind = part.get_content_type()
        if kind in _REPORT_FIELDS:
            continue  # a report's fields, for machines (read as the report): neither text nor an attachment
        if _is_attachment(part):
            attachments.append(part)
        elif kind == "text/plain":
            plain.append(part)
        elif kind == "text/html" and html is None:
            html = part
    if plain:
        # Joined before the quoted earlier message is cut: in a reply it may start in a later part.
        texts = (_text_of(part).strip("\r\n") for part in plain)
        text = strip_reply("\n\n".join(t for t in texts if t.strip()))
    elif html is not None:
        source = _text_of(html)
        # All quotation (a forward inside Gmail's quote container, a lone <blockquote>): kept whole, as a
        # plain text message that would be left empty is.
        text = strip_reply(html_to_text(source)) or html_to_text(source, drop_quotes=False)
    else:
        text = ""
    return text, attachments


def _attachment_info(part: Message, *, in_multipart: bool) -> AttachmentInfo:
    digests = getattr(part, "digests", None)  # taken while parsing (see _LeanMessage)
    digest = digests[in_multipart] if digests else None
    if digest is None:
        payload = part.get_payload()
        if isinstance(payload, list):  # a message/rfc822 part: the carried message, serialised again
            content = b"".join(p.as_bytes(policy=_AS_RECEIVED) for p in payload)
        else:
            decoded = part.get_payload(decode=True)
            content = decoded if isinstance(decoded, bytes) else b""
        digest = (len(content), hashlib.sha256(content).hexdigest())
    size, sha256 = digest
    try:
        name = part.get_filename()
    except _PARAMETER_ERRORS:
        name = None
    name = " ".join((name or "").split()) or f"attachment.{part.get_content_subtype() or 'bin'}"
    return AttachmentInfo(
        name=name,
        content_type=part.get_content_type(),
        size=size,
        sha256=sha256,
    )


def parse_message(message: EmailMessage | Message, *, raw_sha256: str = "", size: int = 0) -> ParsedEmail:
    """What the hub records of a parsed message; raises MalformedEmail when it has no sender address."""
    if not message.keys() and not message.get_payload():
        raise MalformedEmail("the body is not an e-mail message (no header, no content)")
    for name, value in message.raw_items():
        if name.lower() == "from" and len(value) > HEADER_MAX:
            raise MalformedEmail(f"From: the header is over {HEADER_MAX} characters")
    sender = _sender(message)
    text, attachment_parts = _body_and_attachments(message)
    report = _delivery_report(message)
    automated, bounce, failed, returned, returned_to = None, None, [], None, None
    if report is not None:
        automated = "bounce"
        bounce, failed, header = report
        if header is not None:
            ids = _msg_ids(_header(header, "Message-ID"))
            returned, returned_to = (ids[0] if ids else None), _sole_recipient(header)
    elif _is_read_receipt(message):
        # Not a bounce: the message reached them. Their mail client answered for them: no contact.
        automated, returned = "read-receipt", _receipt_original(message)
    else:
        automated = _automated(message)
    ids = _msg_ids(_header(message, "Message-ID"))
    in_reply_to = _msg_ids(_header(message, "In-Reply-To"))
    return ParsedEmail(
        sender=sender.addr_spec,
        sender_name=" ".join(sender.display_name.split()) or None,
        to=[a.addr_spec for a in _addresses(message, "To")],
        cc=[a.addr_spec for a in _addresses(message, "Cc")],
        subject=_header(message, "Subject"),
        message_id=ids[0] if ids else None,
        in_reply_to=in_reply_to[0] if in_reply_to else returned,
        references=_msg_ids(_header(message, "References")),
        date=_date(message),
        text=text,
        attachments=[_attachment_info(part, in_multipart=part is not message) for part in attachment_parts],
        automated=automated,
        bounce=bounce,
        bounced_recipients=failed,
        returned_message_id=returned,
        returned_to=returned_to,
        raw_sha256=raw_sha256,
        size=size,
    )
