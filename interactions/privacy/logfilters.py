"""A logging filter that masks card numbers in every record, as the redaction pass masks stored values."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

from interactions.privacy.redaction import BIDI_CONTROLS, holds_card, redact_escaped, redact_text

# Characters a decoded line must not carry into a log: line breaks and other controls (they forge lines and
# drive terminals) and direction marks; they go back to their percent-encoding.
_UNLOGGABLE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{BIDI_CONTROLS}]")


def _decoded(text: str, unquote_: Callable[[str], str]) -> str:
    for _ in range(3):  # encoded twice over, or thrice
        once = unquote_(text)
        if once == text:
            break
        text = once
    return text


def _masked_text(text: str) -> str:
    """`text` with its card numbers masked, also those written percent-encoded (a URL in an access log line:
    `?identifier=4111%204111%20...` as a browser encodes what a person typed, `4111+4111+...` as a form
    does). A text that holds one only once decoded is logged decoded, and masked, its controls encoded
    again."""
    masked = redact_escaped(redact_text(text))  # Django writes a logged path's controls as `\\t`, `\\x85`
    if "%" not in masked and "+" not in masked:
        return masked
    for decode in (unquote, unquote_plus):  # a `+` is a space only in a form's encoding
        decoded = _decoded(masked, decode)
        if decoded != masked and holds_card(decoded, plus_is_phone=True):
            return _UNLOGGABLE.sub(lambda m: quote(m.group(0)), redact_text(decoded))
    return masked


def _masked(arg: Any) -> Any:
    return _masked_text(arg) if isinstance(arg, str) else arg


class MaskCardNumbers(logging.Filter):
    """Mask card numbers in a record's message, arguments, traceback and stack (installed on every handler).

    Arguments keep their place and type where they can: uvicorn's access formatter reads them one by one.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _masked_text(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: _masked(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_masked(arg) for arg in record.args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: logging reports it when it formats it
            message = None
        if message is not None and _masked_text(message) != message:  # an int or an object held one
            record.msg, record.args = _masked_text(message), ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text once it is set, so the traceback is written masked.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:  # a traceback quotes values with repr()
            record.exc_text = redact_escaped(redact_text(record.exc_text))
        if record.stack_info:
            record.stack_info = redact_escaped(redact_text(record.stack_info))
        return True
