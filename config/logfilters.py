"""Logging filters: keep credentials out of server logs."""

from __future__ import annotations

import logging
import re

# A websocket may carry its bearer token in the query string (?token=...), which uvicorn logs with the path.
_TOKEN = re.compile(r"(?i)([?&](?:token|access_token)=)[^&\s\"']+")


class RedactTokens(logging.Filter):
    """Replace token query parameters in a record's message with [redacted]."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token" in message.lower():
            redacted = _TOKEN.sub(r"\1[redacted]", message)
            if redacted != message:
                record.msg, record.args = redacted, ()
        return True
