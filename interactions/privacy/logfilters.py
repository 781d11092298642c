"""A logging filter that masks card numbers in every record, as the redaction pass masks stored values."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from interactions.privacy.redaction import holds_card, redact_text


def _masked_text(text: str) -> str:
    """`text` with its card numbers masked, also those written percent-encoded (a URL in an access log line:
    `?identifier=4111%204111%20...`, as a browser encodes what a person typed). A text that holds one
    only once decoded is logged decoded, and masked."""
    masked = redact_text(text)
    if "%" not in masked:
        return masked
    decoded = masked
    for _ in range(3):  # encoded twice over, or thrice
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    return redact_text(decoded) if holds_card(decoded, plus_is_phone=True) else masked


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
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
