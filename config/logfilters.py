"""Logging filters: keep bearer tokens out of every log line, in any part of it and in any encoding."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote

from celery.app import trace as celery_trace

REDACTED = "[redacted]"

# A run of characters that can spell a token, percent-encoded or not: the token alphabet (`tl_` and URL-safe
# base64) and %XX escapes. `=`, `&`, `.`, quotes and spaces end a run, so `?token=tl_…&x=1` keeps its name.
_RUN = re.compile(r"(?:[A-Za-z0-9_\-]|%[0-9A-Fa-f]{2})+")
# Where a token starts: `tl_`, not inside a longer word (`ctl_x` is not one). Any case: a token whose prefix
# was upper-cased does not authenticate, but the rest of it is still the secret.
_TOKEN_START = re.compile(r"(?i)(?<![a-z0-9])tl_")
# A client may encode twice (`%2574` is `%74` is `t`); a few rounds undo what any client does.
_DECODE_ROUNDS = 4


def _decoded(text: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def _redact_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if "%" not in run:
        start = _TOKEN_START.search(run)
        return run if start is None else run[: start.start()] + REDACTED
    if not _TOKEN_START.search(_decoded(run)):
        return run
    # Keep what comes before the token (`token%3D` of `?token%3Dtl_…`): the first place from which the rest
    # decodes to a token start, with a prefix that does not end inside a word.
    for i, char in enumerate(run):
        if char in "%tT" and _decoded(run[i:])[:3].lower() == "tl_":
            prefix = _decoded(run[:i])
            if not prefix or not prefix[-1].isalnum():
                return run[:i] + REDACTED
    return REDACTED


# Query parameters whose value is a credential with no form of its own to recognise: the secret an
# inbound-parse service puts in the e-mail adapter's URL (`?secret=`, the only place it can put one) and the
# verify token of Meta's webhook handshake (`?hub.verify_token=`). A name and its `=` may be percent-encoded
# (at any depth), as for tokens; the value is redacted up to the next parameter or white space, as the hooks
# read it (up to `&`): it ended at a `;` or a quote too, and the rest of a secret holding one was logged.
SECRET_PARAMETERS = frozenset({"secret", "hub.verify_token"})
_PARAMETER = re.compile(r"""(?i)(?<![a-z0-9_.~%-])((?:[a-z0-9_.~-]|%[0-9a-f]{2})+?)(=|%(?:25)*3d)([^&\s]*)""")


def _redact_parameter(match: re.Match[str]) -> str:
    name, equals, value = match.groups()
    # The run may begin before an encoded `?` or `&` (`inbound%3Fsecret`): the name is what follows it.
    decoded = _decoded(name).rsplit("?", 1)[-1].rsplit("&", 1)[-1].lower()
    if decoded not in SECRET_PARAMETERS or not value:
        return match.group(0)
    return f"{name}{equals}{REDACTED}"


def redact_tokens(text: str) -> str:
    """`text` with every `tl_` token, plain or percent-encoded (at any depth), and the value of every secret
    query parameter (`SECRET_PARAMETERS`), replaced by [redacted]."""
    lowered = text.lower()
    if "%" in text or ("=" in text and ("secret" in lowered or "verify" in lowered)):
        text = _PARAMETER.sub(_redact_parameter, text)
    if "tl" not in lowered and "%" not in text:
        return text  # the common line: nothing that could spell a token
    return _RUN.sub(_redact_run, text)


def _redacted_arg(arg: object) -> object:
    if isinstance(arg, str):
        return redact_tokens(arg)
    if arg is None or isinstance(arg, int | float):
        return arg
    text = arg.decode("latin-1") if isinstance(arg, bytes) else str(arg)
    redacted = redact_tokens(text)
    return arg if redacted == text else redacted


class RedactTokens(logging.Filter):
    """Redact tokens in a record's message, its arguments, its traceback and its stack.

    Arguments are redacted one by one, so a formatter that reads them (uvicorn's access log unpacks the
    request line from them) still works; if that does not give the redacted line (a token spread over two
    arguments, say), the record becomes the redacted line with no arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = None  # a broken format string: logging reports it with the (redacted) msg and args
        if message is None or (redacted := redact_tokens(message)) != message:
            if isinstance(record.msg, str):
                record.msg = redact_tokens(record.msg)
            if isinstance(record.args, tuple):
                record.args = tuple(_redacted_arg(arg) for arg in record.args)
            elif isinstance(record.args, Mapping):
                record.args = {key: _redacted_arg(value) for key, value in record.args.items()}
            if message is not None and record.getMessage() != redacted:
                record.msg, record.args = redacted, ()  # spread over parts: give up the parts, keep the line
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_tokens(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_tokens(record.stack_info)
        return True


# Celery's routine lines about one task: a worker receiving it and it succeeding (their formats, from
# celery.app.trace), and beat sending it.
_ROUTINE = frozenset((celery_trace.LOG_RECEIVED, celery_trace.LOG_SUCCESS))
_WORKER_LOGGERS = frozenset(("celery.worker.strategy", "celery.app.trace"))
_BEAT_SENDING = "Scheduler: Sending due task %s (%s)"


class QuietTicks(logging.Filter):
    """Drops Celery's routine INFO lines about beat's periodic ticks: beat sending one, a worker receiving
    it and it succeeding, which came every second and buried everything else a worker and beat said. A line
    counts as a tick's when it names a scheduled task with the schedule's own arguments, so the same task
    run otherwise (a nudge after an agent's answer) is still logged, and so is every other kind of line
    about a tick (a failure, a retry, one ignored or expired)."""

    def __init__(self, schedule: Mapping[str, Mapping] | None = None) -> None:
        super().__init__()
        if schedule is None:
            from django.conf import settings

            schedule = settings.CELERY_BEAT_SCHEDULE
        self.tasks = frozenset(entry["task"] for entry in schedule.values())
        # A worker logs a task's keyword arguments as their repr: `{'tick': True}`.
        self.ticks = frozenset(
            (entry["task"], repr(dict(entry.get("kwargs", {})))) for entry in schedule.values()
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        args = record.args
        if record.name == "celery.beat" and record.msg == _BEAT_SENDING:
            return not (isinstance(args, tuple) and len(args) == 2 and args[1] in self.tasks)
        if record.name in _WORKER_LOGGERS and record.msg in _ROUTINE and isinstance(args, Mapping):
            return (args.get("name"), args.get("kwargs")) not in self.ticks
        return True
