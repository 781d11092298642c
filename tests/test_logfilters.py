"""Bearer tokens and the adapters' URL secrets never reach the logs: any part of a line, percent-encoded or
not."""

import logging
import sys

import pytest
from celery.app import trace as celery_trace
from uvicorn.logging import AccessFormatter

from config.logfilters import RedactTokens, redact_tokens


def record(msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args, None)


def test_a_token_in_a_logged_path_is_redacted_and_the_rest_kept():
    entry = record('%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/ws/v1/agent?token=tl_secret&x=1")

    assert RedactTokens().filter(entry)
    assert entry.getMessage() == '127.0.0.1:5000 - "WebSocket /ws/v1/agent?token=[redacted]&x=1" [accepted]'


def test_a_message_without_a_token_is_untouched():
    entry = record("Started server process [%d]", 42)

    RedactTokens().filter(entry)

    assert (entry.msg, entry.args) == ("Started server process [%d]", (42,))


TOKEN = "tl_Zm9vYmFyLWJhei1xdXV4LXNlY3JldC0xMjM0NTY3OA"
SECRET = TOKEN[3:]


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        (f"/ws/v1/agent?token={TOKEN}", "/ws/v1/agent?token=[redacted]"),
        # A percent-encoded name: the value is still a token.
        (f"/ws/v1/agent?%74oken={TOKEN}", "/ws/v1/agent?%74oken=[redacted]"),
        (f"/ws/v1/agent?%74%6F%6B%65%6E={TOKEN}&x=1", "/ws/v1/agent?%74%6F%6B%65%6E=[redacted]&x=1"),
        # An encoded `=`: name and value are one run; the name is kept.
        (f"/ws/v1/agent?token%3D{TOKEN}", "/ws/v1/agent?token%3D[redacted]"),
        (f"/ws/v1/agent?token%3d{TOKEN}&x=1", "/ws/v1/agent?token%3d[redacted]&x=1"),
        # An encoded token, once or twice, whole or in part.
        (f"/ws/v1/agent?token=tl%5F{SECRET}", "/ws/v1/agent?token=[redacted]"),
        (f"/ws/v1/agent?token=%74%6C%5F{SECRET}", "/ws/v1/agent?token=[redacted]"),
        (f"/x?%2574oken%253D%2574l%255F{SECRET}", "/x?%2574oken%253D[redacted]"),
        (f"/x?token={TOKEN[:20]}%2D{TOKEN[21:]}", "/x?token=[redacted]"),
        # Anywhere in the line: the path, a header, a bearer subprotocol, an upper-cased prefix.
        (f"/api/v1/customers/{TOKEN}/context", "/api/v1/customers/[redacted]/context"),
        (f"Authorization: Bearer {TOKEN}", "Authorization: Bearer [redacted]"),
        (f"sec-websocket-protocol: bearer.{TOKEN}", "sec-websocket-protocol: bearer.[redacted]"),
        (f"?token=TL_{SECRET}", "?token=[redacted]"),
        (f"['{TOKEN}', '{TOKEN}']", "['[redacted]', '[redacted]']"),
    ],
)
def test_a_token_is_redacted_whatever_its_encoding_and_place(logged, expected):
    assert redact_tokens(logged) == expected


@pytest.mark.parametrize(
    "line",
    [
        "GET /api/v1/threads?status=open&limit=100 HTTP/1.1",
        "ctl_thing=1 and rtl_layout",  # tl_ inside a word is no token
        "100% done; %7E is a tilde",
        "abc%74l_x",  # decodes to abctl_x: inside a word
    ],
)
def test_lines_without_a_token_are_unchanged(line):
    assert redact_tokens(line) == line


def access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )


def test_the_access_log_line_keeps_its_arguments_so_uvicorns_formatter_still_formats_it():
    entry = access_record(f"/readyz?%74oken={TOKEN}")

    assert RedactTokens().filter(entry)
    line = AccessFormatter(
        fmt='%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False
    ).format(entry)
    assert line == '127.0.0.1:5000 - "GET /readyz?%74oken=[redacted] HTTP/1.1" 200 OK'


def test_a_token_spread_over_two_arguments_redacts_the_whole_line():
    entry = record("%s%s", "tl_", SECRET)

    RedactTokens().filter(entry)

    assert (entry.getMessage(), entry.args) == ("[redacted]", ())


def test_a_token_in_a_non_string_argument_a_traceback_or_a_stack_is_redacted():
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        entry = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed: %r", ({"t": TOKEN},), sys.exc_info()
        )
    entry.stack_info = f'File "x.py", line 1, in f\n    connect("?token={TOKEN}")'

    RedactTokens().filter(entry)
    formatted = logging.Formatter().format(entry)

    assert SECRET not in formatted
    assert "failed: {'t': '[redacted]'}" in formatted and "bad token [redacted]" in formatted


@pytest.mark.parametrize(
    ("logged", "expected"),
    [
        # The e-mail adapter's secret in the URL an inbound-parse service calls.
        (
            "POST /hooks/email/support/inbound?secret=s3cr3t-Value HTTP/1.1",
            "POST /hooks/email/support/inbound?secret=[redacted] HTTP/1.1",
        ),
        (
            "/hooks/email/support/inbound?x=1&secret=abc&y=2",
            "/hooks/email/support/inbound?x=1&secret=[redacted]&y=2",
        ),
        ("/hooks/email/support/inbound?SECRET=abc", "/hooks/email/support/inbound?SECRET=[redacted]"),
        ("/hooks/email/support/inbound?%73ecret=abc", "/hooks/email/support/inbound?%73ecret=[redacted]"),
        ("/hooks/email/support/inbound?secret%3Dabc", "/hooks/email/support/inbound?secret%3D[redacted]"),
        ("/hooks/email/support/inbound?secret%253Dabc", "/hooks/email/support/inbound?secret%253D[redacted]"),
        ("/hooks/email/support/inbound%3Fsecret%3Dabc", "/hooks/email/support/inbound%3Fsecret%3D[redacted]"),
        # Meta's verify token in the handshake's query.
        (
            "GET /hooks/meta/main/webhook?hub.mode=subscribe&hub.verify_token=v-T0ken&hub.challenge=115",
            "GET /hooks/meta/main/webhook?hub.mode=subscribe&hub.verify_token=[redacted]&hub.challenge=115",
        ),
        ("?hub%2Everify_token=v-T0ken", "?hub%2Everify_token=[redacted]"),
        # The hooks read a value up to the next `&`: a `;` or a quote in it ended the redaction, and the
        # rest of the secret was logged.
        (
            "POST /hooks/email/mailx/inbound?secret=K7fQ2pLx;SECRETTAIL HTTP/1.1",
            "POST /hooks/email/mailx/inbound?secret=[redacted] HTTP/1.1",
        ),
        ("/inbound?secret=ab'SECRETQUOTE&x=1", "/inbound?secret=[redacted]&x=1"),
        ('/inbound?secret=ab"SECRET#TAIL', "/inbound?secret=[redacted]"),
        ("?hub.verify_token=abc;defSECRET", "?hub.verify_token=[redacted]"),
    ],
)
def test_a_secret_query_parameter_is_redacted(logged, expected):
    assert redact_tokens(logged) == expected


@pytest.mark.parametrize(
    "line",
    [
        "/x?secretary=1",
        "/x?my_secret=1",
        "/x?secret=",
        "the secret is out",
        "/hooks/meta/main/webhook?hub.mode=subscribe",
    ],
)
def test_parameters_that_are_not_secrets_are_kept(line):
    assert redact_tokens(line) == line


def _celery_record(logger: str, level: int, msg: str, args) -> logging.LogRecord:
    return logging.LogRecord(logger, level, __file__, 1, msg, args, None)


TICK = "interactions.callbacks_dispatch"
SCHEDULE = {"callbacks-dispatch": {"task": TICK, "schedule": 1.0, "kwargs": {"tick": True}}}
BEAT, RECEIVED, TRACE = "celery.beat", "celery.worker.strategy", "celery.app.trace"
INFO, ERROR = logging.INFO, logging.ERROR
SENDING = "Scheduler: Sending due task %s (%s)"


def _task(name: str = TICK, kwargs: str = "{'tick': True}") -> tuple[dict]:
    return ({"name": name, "id": "1", "args": "()", "kwargs": kwargs, "runtime": 0.01, "return_value": "None",
             "eta": None, "description": "ignored", "exc": "boom"},)  # fmt: skip


@pytest.mark.parametrize(
    ("logger", "level", "msg", "args", "kept"),
    [
        (BEAT, INFO, SENDING, ("callbacks-dispatch", TICK), False),
        (RECEIVED, INFO, celery_trace.LOG_RECEIVED, _task(), False),
        (TRACE, INFO, celery_trace.LOG_SUCCESS, _task(), False),
        # The same task run by a nudge, any other task, and every other kind of line pass.
        (RECEIVED, INFO, celery_trace.LOG_RECEIVED, _task(kwargs="{}"), True),
        (TRACE, INFO, celery_trace.LOG_SUCCESS, _task(kwargs="{}"), True),
        (TRACE, INFO, celery_trace.LOG_SUCCESS, _task(name="interactions.offer"), True),
        (TRACE, INFO, celery_trace.LOG_IGNORED, _task(), True),
        (TRACE, ERROR, celery_trace.LOG_FAILURE, _task(), True),
        (BEAT, INFO, "beat: Starting...", (), True),
    ],
)
def test_celerys_routine_lines_about_the_tick_are_left_out_and_nothing_else(logger, level, msg, args, kept):
    from config.logfilters import QuietTicks

    record = _celery_record(logger, level, msg, args)

    assert QuietTicks(SCHEDULE).filter(record) is kept
    record.getMessage()  # the record still formats (its arguments untouched)


def test_the_tick_filter_reads_the_beat_schedule_from_settings():
    from django.conf import settings

    from config.logfilters import QuietTicks

    entry = settings.CELERY_BEAT_SCHEDULE["callbacks-dispatch"]
    record = _celery_record(
        TRACE, INFO, celery_trace.LOG_SUCCESS, _task(entry["task"], repr(entry["kwargs"]))
    )
    assert QuietTicks().filter(record) is False
