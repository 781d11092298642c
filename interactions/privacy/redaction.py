"""One redaction pass over everything the hub stores: card numbers masked in values, found in keys (PCI DSS).

A primary account number is 13 to 19 digits that pass the Luhn check, written however a person or a system
writes it: unbroken, in groups joined by any separator (spaces, two spaces, no-break and other Unicode
spaces, zero-width characters, direction marks and other invisible formatting characters, emoji keycaps,
newlines, tabs, dashes of every kind, dots, commas, slashes, underscores, pipes, apostrophes, asterisks,
hashes),
one digit at a time as a voice transcript has it, in any script's digits, or as a JSON number. Values keep
their last four digits (`**** **** **** 1111`); keys (event ids, sources, identifiers) cannot be masked,
because two different keys would become one, so callers refuse a key that `holds_card`.

Out of reach: a number written inside a UUID, a Twilio SID or a SHA-256 digest written in hexadecimal
(identifiers whose digits pass Luhn by chance),
a number split across two events or two fields, a number glued to more digits without a
separator, and a number of at most 15 digits written after a "+" (that is how phone numbers are written, and
E.164 numbers have at most 15 digits).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from hub.events import NewEvent
from interactions.errors import InvalidRequest

MIN_DIGITS, MAX_DIGITS = 13, 19
KEEP = 4  # digits left visible at the end of a masked number, as PCI DSS allows
# A phone number written +<country code><number> has at most 15 digits (ITU-T E.164).
E164_MAX_DIGITS = 15

# What may stand between two groups of a card number's digits: any space (\s covers no-break, thin, figure,
# ideographic spaces and line breaks), invisible characters (zero-width ones, direction marks, embeddings,
# overrides and isolates, invisible operators: the number looks whole on screen), an emoji keycap's
# variation selector and enclosing keycap (4️⃣1️⃣...), dashes, dots, commas, slashes, underscores, pipes,
# apostrophes (Swiss digit grouping: 4111'1111'...), asterisks and hashes. Not colons: times are written in
# pairs of digits joined by them, and a run of times (opening hours, a log line) passed Luhn one time in ten.
# Every dash (Unicode's Pd) and every invisible formatting character (Cf: direction marks, tags, the
# Arabic letter mark...) is one, read from the Unicode database this Python has; so are variation
# selectors, and the full-width forms of the ASCII separators.


# Where Unicode puts characters of those categories: the BMP, plane 1 and plane 14 (tags). The other planes
# hold ideographs, nothing yet, or private use: reading them too made every process start 60 ms slower.
_PLANES = (range(0x20000), range(0xE0000, 0xE1000))


def _class_of(*categories: str) -> str:
    """The characters of these general categories, as the inside of a regular expression's class."""
    chars = [chr(c) for plane in _PLANES for c in plane if unicodedata.category(chr(c)) in categories]
    return "".join(re.escape(c) for c in chars)


_SEPARATOR = (
    r"[\s\u180e\u2212\ufe0e\ufe0f\u20e3\ufe00-\ufe0f\U000e0100-\U000e01ef"
    + _class_of("Pd", "Cf")
    + r".\u00b7\u2022\u2027\u30fb\uff0e,\uff0c/\uff0f_\uff3f"
    r"|\uff5c'\uff07\u2019*\uff0a#\uff03]"
)
# Groups of digits (any script's decimal digits) joined by runs of one to four separators.
_CHAIN = re.compile(rf"\d+(?:{_SEPARATOR}{{1,4}}\d+)*")
_GROUP = re.compile(r"\d+")
_DIGIT = re.compile(r"\d")
# UUIDs are identifiers, not card data: an all-digit run across their groups can pass Luhn by chance.
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
# Twilio's ids (SIDs: two capitals, 32 lower-case hexadecimal digits: SM..., CA..., RE...) are identifiers
# too: their hex digits hold a run of 13-19 decimal digits that passes Luhn in a few SIDs in a thousand, and
# an id refused as a card would lose the message.
_SID = re.compile(r"\b[A-Z]{2}[0-9a-f]{32}\b")
# SHA-256 digests as hexdigest() writes them (64 lower-case hexadecimal digits standing alone: an e-mail
# attachment's `sha256`), for the same reason: about one in three hundred held a run that passed Luhn, and
# masking it made the only record that recognises the attachment wrong.
_HEX_DIGEST = re.compile(r"\b[0-9a-f]{64}\b")
# A 3-4 digit code written next to a word that names it: "CVV 123", "cvc: 1234", "security code is 999".
_SECURITY_CODE = re.compile(
    r"(?i)\b(cvv2?|cvc2?|cid|csc|cav2|security\s+code|card\s+verification(?:\s+(?:code|value))?)"
    r"(\s*(?:is|:|=|#|-)?\s*)(\d{3,4})\b"
)

CARD_IN_KEY = (
    "holds a card number: card numbers are never stored, and a key cannot be masked (two different keys "
    "would become one)"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _after_plus(text: str, at: int) -> bool:
    """Is the digit at `at` written after a "+" that starts a phone number (not jane+4111@...)?"""
    return at > 0 and text[at - 1] == "+" and (at == 1 or not text[at - 2].isalnum())


def _significant(text: str, where: list[int], start: int, end: int) -> int:
    """How many of the digits start..end are left after their leading zeros (asked only of a Luhn-valid
    number that starts with 0, which is rare)."""
    first = next((i for i in range(start, end) if int(text[where[i]])), end)
    return end - first


def _numbers_in_run(
    text: str, groups: list[tuple[int, int]], *, plus_is_phone: bool
) -> tuple[list[int], list[tuple[int, int]]]:
    """The card numbers among these groups of digits (each at most 19 long, joined by separators): the text
    position of each digit, and each number as the (start, end) indexes of its digits."""
    lengths = [end - start for start, end in groups]
    if sum(lengths) < MIN_DIGITS:
        return [], []
    where = [pos for start, end in groups for pos in range(start, end)]
    # Luhn doubles every second digit counting from a number's last one. Prefix sums of the digits with
    # those at even (or odd) indexes doubled give the Luhn sum of any run in one subtraction.
    doubled_even, doubled_odd = [0], [0]
    for i, pos in enumerate(where):
        n = int(text[pos])
        double = n * 2 - 9 if n > 4 else n * 2
        doubled_even.append(doubled_even[-1] + (double if i % 2 == 0 else n))
        doubled_odd.append(doubled_odd[-1] + (n if i % 2 == 0 else double))
    offsets = [0]  # the index of each group's first digit
    short = [0]  # how many of the groups before each are shorter than three digits
    streak = []  # where the run of groups as long as each one starts
    for i, length in enumerate(lengths):
        offsets.append(offsets[-1] + length)
        short.append(short[-1] + (length < 3))
        streak.append(streak[-1] if i and lengths[i - 1] == length else i)
    phone = plus_is_phone and _after_plus(text, groups[0][0])
    numbers: list[tuple[int, int]] = []
    first = 0
    for last in range(len(groups)):  # every run of whole groups of 13-19 digits, by its last group
        end = offsets[last + 1]
        while end - offsets[first] > MAX_DIGITS:
            first += 1
        sums = doubled_odd if (end - 1) % 2 == 0 else doubled_even
        for start_group in range(first, last + 1):
            start = offsets[start_group]
            if end - start < MIN_DIGITS:
                break
            # Written as one number: in groups of three or more (4-4-4-4, 4-6-5), or in even groups (one
            # digit at a time, pairs) but for a shorter last one. A short group among uneven ones joins
            # different numbers (a date, a version: 2026-11-23-000123).
            grouped = (
                last - start_group < 2
                or short[last] == short[start_group + 1]
                or streak[last - 1] <= start_group
            )
            # No card number starts with 0 (ISO/IEC 7812 gives cards the major industry identifiers 1 to 9),
            # and leading zeros do not change a Luhn sum: what follows them must be long enough on its own.
            # A run of zeros (a path such as data.items.0.0.0..., a zero-padded counter) is no card number;
            # 0 glued before one (04111111111111111) still holds it.
            if (
                (sums[end] - sums[start]) % 10 == 0
                and (int(text[where[start]]) or _significant(text, where, start, end) >= MIN_DIGITS)
                and grouped
                and not (phone and start_group == 0 and end - start <= E164_MAX_DIGITS)
            ):
                numbers.append((start, end))
    return where, numbers


def _card_numbers(text: str, *, plus_is_phone: bool) -> Iterator[tuple[list[int], list[tuple[int, int]]]]:
    """For each run of digit groups in `text` that holds card numbers: see _numbers_in_run."""
    text = _UUID.sub(lambda m: "x" * len(m.group(0)), text) if "-" in text else text  # positions kept
    text = _SID.sub(lambda m: "x" * len(m.group(0)), text) if len(text) >= 34 else text
    text = _HEX_DIGEST.sub(lambda m: "x" * len(m.group(0)), text) if len(text) >= 64 else text
    for chain in _CHAIN.finditer(text):
        if chain.end() - chain.start() < MIN_DIGITS:
            continue
        runs: list[list[tuple[int, int]]] = [[]]
        for group in _GROUP.finditer(text, chain.start(), chain.end()):
            if group.end() - group.start() > MAX_DIGITS:
                runs.append([])  # too long to be in a number: it ends a run
            else:
                runs[-1].append(group.span())
        for run in runs:
            if run:
                where, numbers = _numbers_in_run(text, run, plus_is_phone=plus_is_phone)
                if numbers:
                    yield where, numbers


def holds_card(text: str, *, plus_is_phone: bool = False) -> bool:
    """Does `text` hold a card number, in any format? For keys, which are refused rather than masked.

    With `plus_is_phone`, a number of at most 15 digits after a "+" is read as a phone number.
    """
    if not _DIGIT.search(text):
        return False
    return next(_card_numbers(text, plus_is_phone=plus_is_phone), None) is not None


def redact_text(text: str) -> str:
    """The text with card numbers masked but for their last four digits, and security codes masked whole."""
    if not _DIGIT.search(text):  # most text has no digit: one scan in C
        return text
    masked: list[int] = []
    for where, numbers in _card_numbers(text, plus_is_phone=True):
        # Numbers may overlap (4111 1111 1111 1111 110 holds two): mask the union, each but its last four.
        depth = [0] * (len(where) + 1)
        for start, end in numbers:
            depth[start] += 1
            depth[end - KEEP] -= 1
        inside = 0
        for i, pos in enumerate(where):
            inside += depth[i]
            if inside:
                masked.append(pos)
    if masked:
        chars = list(text)
        for pos in masked:
            chars[pos] = "*"
        text = "".join(chars)
    return _SECURITY_CODE.sub(lambda m: f"{m.group(1)}{m.group(2)}{'*' * len(m.group(3))}", text)


_DIGIT_OR_SEPARATOR = re.compile(rf"\d|{_SEPARATOR}")
# A character as repr() writes it when it is not printable; and one such escape, or the start of one a cut
# left (`\\u20`, `\\`: hexadecimal digits are backed over as digits), ending where a cut falls.
_ESCAPE = re.compile(r"\\(?:[tnrfvab]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})")
_ESCAPE_BEFORE = re.compile(r"\\(?:[tnrfvab]|x[0-9a-fA-F]{0,2}|u[0-9a-fA-F]{0,4}|U[0-9a-fA-F]{0,8})?\Z")
# What text repeated back to whoever sent it never shows: control characters (but tab and line breaks),
# direction marks, embeddings, overrides and isolates (they reorder the text around them as it is shown) and
# lone surrogates (not Unicode: a strict JSON or UTF-8 reader refuses them). Each becomes U+FFFD.
BIDI_CONTROLS = "\u200e\u200f\u202a-\u202e\u2066-\u2069"  # a character class's inside
_UNSHOWN = re.compile(f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}\\ud800-\\udfff]")


def cut(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, to be stored or shown. The run of digits and separators at the
    cut goes with it: a card number cut in two keeps every digit but the last few, which is no longer a card
    number that masking would find, yet tells the whole number (its last digit is a check digit). Text
    that is nothing but such a run is masked before it is cut instead (it would be cut to nothing)."""
    if len(text) <= limit:
        return text
    end = limit
    while end:  # back over the run at the cut (repr()'s escapes are separators too): linear
        if _DIGIT_OR_SEPARATOR.match(text, end - 1):
            end -= 1
        elif escape := _ESCAPE_BEFORE.search(text, max(end - 10, 0), end):
            end = escape.start()
        else:
            break
    return text[:end] if end else redact_text(text)[:limit]


def excerpt(text: str, limit: int) -> str:
    """At most `limit` characters of `text` (and "…"), to repeat back what was sent, cut as `cut` does;
    mask the excerpt after."""
    short = cut(text, limit)
    return text if short is text else short + "…"


def shown_back(text: str, limit: int) -> str:
    """`text` as an error may repeat it to its sender: at most `limit` characters, card numbers masked,
    then what must never be shown replaced (masked first: direction marks may join a number's groups).
    A message that quotes a value with repr() writes a separator as an escape (`\\t`, `\\xa0`, `\\u200b`):
    such an escape joins a number's groups too."""
    return _UNSHOWN.sub("\ufffd", redact_escaped(redact_text(excerpt(text, limit))))


def redact_escaped(text: str) -> str:
    """`text` with the card numbers masked whose groups are joined by repr()'s escapes (a message quoting a
    value, a traceback, a log line Django wrote with its path escaped): each escape is read as one
    separator, and what that reading masks is masked where it stands in `text`."""
    if "\\" not in text or not _ESCAPE.search(text):
        return text
    read: list[str] = []
    origin: list[int | None] = []  # where each character read stands in `text` (None: an escape)
    last = 0
    for escape in _ESCAPE.finditer(text):
        read += text[last : escape.start()]
        origin += range(last, escape.start())
        read.append(" ")
        origin.append(None)
        last = escape.end()
    read += text[last:]
    origin += range(last, len(text))
    masked = redact_text("".join(read))
    out = list(text)
    for at, (before, after) in enumerate(zip(read, masked, strict=True)):
        if before != after and origin[at] is not None:
            out[origin[at]] = after
    return "".join(out)


def _redact_number(number: int | float) -> int | float | str:
    """A JSON number that holds a card becomes the masked number, as a string."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e20:
        text = str(int(number))  # 4111111111111111.0 and 4.111111111111111e15 hold the same digits
    else:
        text = repr(number) if isinstance(number, float) else str(number)
    masked = redact_text(text)
    return number if masked == text else masked


class CardNumberRefused(InvalidRequest):
    """A key holds a card number, or two keys of an object differ only in one; `errors` names the fields."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors[0]["message"], extra={"errors": errors})
        self.errors = errors


@dataclass
class _Pass:
    """One walk over a JSON value: masks strings, numbers and object keys; records what changed."""

    keys: frozenset[str]  # paths of values that are keys: never masked (their owners refuse card numbers)
    masked: list[str]
    errors: list[dict[str, str]]

    def value(self, value: Any, path: str) -> Any:
        if path in self.keys:
            return value
        if isinstance(value, str):
            out = redact_text(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out = _redact_number(value)
        elif isinstance(value, dict):
            return self.object(value, path)
        elif isinstance(value, list):
            return [self.value(item, f"{path}[{i}]") for i, item in enumerate(value)]
        else:
            return value
        if out != value or type(out) is not type(value):
            self.masked.append(path)
        return out

    def object(self, value: dict[str, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = redact_text(key)
            if name != key:
                if name in out or name in value:
                    message = (
                        f"{path} has two keys that differ only in a card number, which masking makes one"
                    )
                    self.errors.append({"field": path, "message": message})
                self.masked.append(f"{path}.{name}")
            out[name] = self.value(item, f"{path}.{name}")
        return out


def redact(value: Any, path: str = "data") -> tuple[Any, list[str]]:
    """A JSON value with card numbers masked in every string, number and object key, and the paths masked.

    Raises CardNumberRefused if masking would make two keys of one object the same.
    """
    walk = _Pass(frozenset(), [], [])
    out = walk.value(value, path)
    if walk.errors:
        raise CardNumberRefused(walk.errors)
    return out, walk.masked


# Values placement reads as keys: identifier URIs, which interactions.identity parsed and refused holding a
# card. `data.identifiers` of every type (each type's schema parses them), and `data.identifier` of the hub's
# own customer.identified only: in any other type it is a field like any other (an integration's extra
# field), masked as any other.
_KEY_PATHS = frozenset({"data.identifiers"})
_KEY_PATHS_BY_TYPE = {"customer.identified": _KEY_PATHS | {"data.identifier"}}
_EVENT_KEYS = ("id", "source")


def redact_event(event: NewEvent) -> NewEvent:
    """The event as the hub may store it: card numbers masked in every value of its data and metadata
    (keys of objects included), the masked paths listed in `metadata["redacted"]`.

    Raises CardNumberRefused naming the fields when a key (`id`, `source`) holds a card number or masking
    would make two keys of one object the same. The subject and `data.identifiers` are identifiers, which
    interactions.identity refuses when they hold one; they are never masked.
    """
    errors = [
        {"field": name, "message": f"{name} {CARD_IN_KEY}"}
        for name in _EVENT_KEYS
        if holds_card(getattr(event, name))
    ]
    walk = _Pass(_KEY_PATHS_BY_TYPE.get(event.type, _KEY_PATHS), [], errors)
    data = walk.value(event.data, "data")
    metadata = walk.value({k: v for k, v in event.metadata.items() if k != "redacted"}, "metadata")
    if walk.errors:
        raise CardNumberRefused(walk.errors)
    if not walk.masked:
        return event
    redacted = list(dict.fromkeys([*event.metadata.get("redacted", []), *walk.masked]))
    return replace(event, data=data, metadata={**metadata, "redacted": redacted})
