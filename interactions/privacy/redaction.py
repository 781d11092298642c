"""Masks payment card numbers and security codes in event data before it reaches the log (PCI DSS)."""

from __future__ import annotations

import re
from typing import Any

# 13-19 digits, optionally grouped by single spaces or dashes, not part of a longer digit run.
_CARD_CANDIDATE = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")
# A 3-4 digit code written next to a word that names it: "CVV 123", "cvc: 1234", "security code is 999".
_SECURITY_CODE = re.compile(
    r"(?i)\b(cvv2?|cvc2?|cid|csc|cav2|security\s+code|card\s+verification(?:\s+(?:code|value))?)"
    r"(\s*(?:is|:|=|#|-)?\s*)(\d{3,4})\b"
)


_DIGIT = re.compile(r"\d")

# UUIDs are identifiers, not card data: an all-digit run across their groups can pass Luhn by chance.
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = [c for c in text if c.isdigit()]
    if not 13 <= len(digits) <= 19 or not luhn_valid("".join(digits)):
        return text
    keep = 4
    out, seen = [], 0
    for ch in text:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > len(digits) - keep else "*")
        else:
            out.append(ch)
    return "".join(out)


def _redact_plain(text: str) -> str:
    text = _CARD_CANDIDATE.sub(_mask_card, text)
    return _SECURITY_CODE.sub(lambda m: f"{m.group(1)}{m.group(2)}{'*' * len(m.group(3))}", text)


def redact_text(text: str) -> str:
    """The text with card numbers masked to their last four digits and security codes masked whole."""
    if not _DIGIT.search(text):  # most text has no digit: one scan in C
        return text
    parts: list[str] = []
    last = 0
    for match in _UUID.finditer(text):
        parts += [_redact_plain(text[last : match.start()]), match.group(0)]
        last = match.end()
    parts.append(_redact_plain(text[last:]))
    return "".join(parts)


def redact(data: Any, path: str = "data") -> tuple[Any, list[str]]:
    """Redact every string in `data`; return the new value and the paths of the fields that changed."""
    if isinstance(data, str):
        masked = redact_text(data)
        return masked, ([path] if masked != data else [])
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        changed: list[str] = []
        for key, value in data.items():
            out[key], paths = redact(value, f"{path}.{key}")
            changed += paths
        return out, changed
    if isinstance(data, list):
        items: list[Any] = []
        changed = []
        for i, value in enumerate(data):
            masked_item, paths = redact(value, f"{path}[{i}]")
            items.append(masked_item)
            changed += paths
        return items, changed
    return data, []
