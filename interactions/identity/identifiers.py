"""Parse and normalise identifier URIs, with reasons a person can act on when one does not parse."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from interactions.errors import InvalidIdentifier
from interactions.privacy.redaction import E164_MAX_DIGITS, holds_card

KINDS = ("tel", "mailto", "chat", "social", "account")
# Characters as sent, and UTF-8 bytes once normalised: the normalised URI is the primary key of the
# identifier table (varchar(320), and an index entry PostgreSQL limits in bytes), and normalising can
# lengthen it (lower-casing "İ" gives two characters).
MAX_LENGTH = 320
MAX_BYTES = 320
# Never echoes the value: a refusal must not carry the number back either.
CARD_NUMBER = (
    "an identifier may not hold a card number: card numbers are never stored, and masking one would make "
    "two identifiers one"
)

_token = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._~\-]{0,127}\Z")
_platform = re.compile(r"\A[a-z][a-z0-9_-]{0,31}\Z")
_handle = re.compile(r"\A@?[A-Za-z0-9._\-]{1,100}\Z")
_ACCOUNT = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9\-_/.]{0,63}\Z")
# Meta's page-scoped ids (Messenger PSIDs, Instagram IGSIDs) are 15-17 digits the platform hands out, and one
# in ten passes the Luhn check by chance. Like a phone number in an assigned range, such an id on these
# platforms is the platform's id, not a card number: refusing it would refuse one customer in ten.
_SCOPED_ID_PLATFORMS = frozenset({"messenger", "instagram"})
_SCOPED_ID = re.compile(r"\A[0-9]{1,20}\Z")


@dataclass(frozen=True)
class Identifier:
    kind: str
    value: str

    @property
    def uri(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_identifier(raw: object) -> Identifier:
    """Parse and normalise an identifier URI; raise InvalidIdentifier with a reason a person can act on."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidIdentifier("an identifier must be a non-empty string such as tel:+15551234567")
    raw = raw.strip()
    if len(raw) > MAX_LENGTH:
        raise InvalidIdentifier(f"an identifier is at most {MAX_LENGTH} characters")
    kind, sep, value = raw.partition(":")
    kind = kind.lower()
    # Before any message that quotes the value. Phone numbers are looked at once parsed (see _tel).
    if kind != "tel" and holds_card(raw) and not _platform_scoped_id(kind, value):
        raise InvalidIdentifier(CARD_NUMBER)
    if not sep or kind not in KINDS:
        raise InvalidIdentifier(
            f"{raw!r} is not an identifier URI; use one of tel:, mailto:, chat:, social:<platform>:, account:"
        )
    identifier = _PARSERS[kind](value)
    if len(identifier.uri.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InvalidIdentifier(f"an identifier is at most {MAX_BYTES} bytes in UTF-8 once normalised")
    return identifier


def _platform_scoped_id(kind: str, value: str) -> bool:
    platform, _, handle = value.strip().partition(":")
    return kind == "social" and platform.lower() in _SCOPED_ID_PLATFORMS and bool(_SCOPED_ID.match(handle))


def _tel(value: str) -> Identifier:
    card = holds_card(value)
    try:
        number = phonenumbers.parse(value, settings.THREADLINE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        message = CARD_NUMBER if card else f"tel:{value} is not a phone number ({exc})"
        raise InvalidIdentifier(message) from exc
    # "Possible" (right length for its country) rather than "valid" (an assigned range): fictional 555
    # numbers and newly assigned ranges must still identify a customer.
    if not phonenumbers.is_possible_number(number):
        message = CARD_NUMBER if card else f"tel:{value} is not a possible phone number for its country"
        raise InvalidIdentifier(message)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # What the number leaves out is kept as sent (the extension, RFC 3966 parameters such as `;isub=`):
    # a card there is refused whatever the number is.
    if holds_card(number.extension or "") or holds_card(value.partition(";")[2]):
        raise InvalidIdentifier(CARD_NUMBER)
    # One phone number in ten of 13-15 digits passes Luhn by chance (+86 138..., +49 151...): a number in an
    # assigned range is a phone number. Longer than E.164 allows, or unassigned, it is a card number.
    if (card or holds_card(e164)) and (
        len(e164) - 1 > E164_MAX_DIGITS or not phonenumbers.is_valid_number(number)
    ):
        raise InvalidIdentifier(CARD_NUMBER)
    return Identifier("tel", e164)


def whatsapp_number(digits: str) -> str:
    """The phone number (its digits after "+") behind a WhatsApp id, which is the number but for two of
    WhatsApp's own habits: Mexican ids keep the "1" Mexico dropped from mobile numbers in 2019 (id
    5215512345678 is +52 55 1234 5678, and `+521...` is no possible number), and Brazilian ids of numbers
    older than the ninth mobile digit leave it out (id 551187654321 is +55 11 98765 4321). Read as they
    come, one person's WhatsApp and SMS were two customers, and a Mexican sender's id was refused."""
    if digits.startswith("521") and len(digits) == 13:
        return "52" + digits[3:]
    if digits.startswith("55") and len(digits) == 12 and digits[4] in "6789":  # an 8-digit mobile number
        return digits[:4] + "9" + digits[4:]
    return digits


def whatsapp_older_form(digits: str) -> str | None:
    """The identifier a Brazilian WhatsApp id without its ninth digit made customers of before ids were read
    as the number (`tel:+551187654321`), for an event to name beside the number so that such a customer is
    linked, or merged, with its history; None for any other id."""
    if whatsapp_number(digits) != digits and digits.startswith("55"):
        return f"tel:+{digits}"
    return None


def tel_extension(uri: str) -> str:
    """The extension written in a `tel:` identifier (`ext 99`, `;ext=99`, `x99`), or "" (none, or not a
    phone number). The identifier itself leaves it out: the number identifies the customer."""
    try:
        return (
            phonenumbers.parse(uri.removeprefix("tel:"), settings.THREADLINE_DEFAULT_REGION).extension or ""
        )
    except phonenumbers.NumberParseException:
        return ""


def _mailto(value: str) -> Identifier:
    address = value.split("?", 1)[0].strip()
    try:
        validate_email(address)
    except ValidationError as exc:
        raise InvalidIdentifier(f"mailto:{value} is not an email address") from exc
    return Identifier("mailto", address.lower())


def _chat(value: str) -> Identifier:
    if not _token.match(value):
        raise InvalidIdentifier(f"chat:{value} is not a chat visitor id (letters, digits, . _ ~ -)")
    return Identifier("chat", value)


def _social(value: str) -> Identifier:
    platform, sep, handle = value.partition(":")
    platform = platform.lower()
    if not sep or not _platform.match(platform) or not _handle.match(handle):
        raise InvalidIdentifier(f"social:{value} is not social:<platform>:<handle>")
    # Handles are case-insensitive on the platforms we know; a leading @ is presentation.
    return Identifier("social", f"{platform}:{handle.lstrip('@').lower()}")


def _account(value: str) -> Identifier:
    if not _ACCOUNT.match(value):
        raise InvalidIdentifier(f"account:{value} is not an account number")
    return Identifier("account", value)


_PARSERS = {"tel": _tel, "mailto": _mailto, "chat": _chat, "social": _social, "account": _account}
