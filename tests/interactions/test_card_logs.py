"""No card number reaches a log line: every handler of Django, uvicorn and Celery masks them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from django.conf import settings
from uvicorn.logging import AccessFormatter

from config.celery import _mask_card_numbers
from interactions.privacy.logfilters import MaskCardNumbers

CARD = "4111 1111 1111 1111"


def record(msg: str, *args, name: str = "django.request", exc_info=None) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, msg, args, exc_info)


def test_a_card_number_in_a_message_or_its_arguments_is_masked():
    entries = [
        record(f"paid with {CARD}"),
        record("Not Found: %s", "/api/v1/callbacks/4111111111111111/cancel"),
        record("ref %d", 4111111111111111),
        record("%(card)s", {"card": CARD}),
    ]

    for entry in entries:
        assert MaskCardNumbers().filter(entry)
        assert "4111" not in entry.getMessage() and "1111" in entry.getMessage()


def test_an_access_log_record_keeps_its_arguments_for_uvicorns_formatter():
    args = ("127.0.0.1:5000", "GET", "/api/v1/context?identifier=account:4111111111111111", "1.1", 400)
    entry = record('%s - "%s %s HTTP/%s" %d', *args, name="uvicorn.access")

    MaskCardNumbers().filter(entry)
    line = AccessFormatter(fmt='%(client_addr)s - "%(request_line)s" %(status_code)s').format(entry)

    assert "account:************1111" in line and "4111" not in line


def test_a_percent_encoded_card_number_in_an_access_log_line_is_masked():
    paths = [
        "/api/v1/context?identifier=4111%201111%201111%201111",  # as the desk's search encodes it
        "/api/v1/threads?limit=4111%2D1111%2D1111%2D1111",
        "/api/v1/customers/x/next-best-actions/4111%25201111%25201111%25201111/taken",  # encoded twice
        "/api/v1/context?identifier=4111+1111+1111+1111",  # as a form (or requests' params=) encodes spaces
        "/api/v1/context?identifier=4111%2B1111%2B1111%2B1111",  # a real "+" between the groups
    ]
    for path in paths:
        entry = record(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 400, name="uvicorn.access"
        )

        MaskCardNumbers().filter(entry)
        line = AccessFormatter(fmt='%(client_addr)s - "%(request_line)s" %(status_code)s').format(entry)

        assert "1111" in line and "4111" not in line, line
    phone = record("GET /api/v1/context?identifier=tel:%2B15551234567", name="uvicorn.access")
    MaskCardNumbers().filter(phone)
    assert (
        phone.getMessage() == "GET /api/v1/context?identifier=tel:%2B15551234567"
    )  # nothing to mask: as sent


def test_a_line_logged_decoded_carries_no_line_break_or_terminal_control_it_was_sent():
    path = (
        "/api/v1/context?identifier=4111%201111%201111%201111&x=%0D%0A2026-01-01 INFO forged %1B[2J%E2%80%AE"
    )
    entry = record(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 401, name="uvicorn.access"
    )

    MaskCardNumbers().filter(entry)
    line = entry.getMessage()

    assert "4111" not in line and "\r" not in line and "\n" not in line and "\x1b" not in line
    assert "\u202e" not in line and "%0D%0A2026-01-01 INFO forged %1B[2J%E2%80%AE" in line


def test_a_card_number_in_a_traceback_is_masked():
    try:
        raise ValueError(f"cannot charge {CARD}")
    except ValueError as exc:
        entry = record("failed", exc_info=(type(exc), exc, exc.__traceback__))

    MaskCardNumbers().filter(entry)

    written = logging.Formatter().format(entry)
    assert "cannot charge **** **** **** 1111" in written and "4111" not in written


def test_every_handler_of_django_uvicorn_and_celery_masks_card_numbers():
    assert all("mask_cards" in h["filters"] for h in settings.LOGGING["handlers"].values())
    uvicorn = json.loads((Path(settings.BASE_DIR) / "config" / "uvicorn-logging.json").read_text())
    assert all("mask_cards" in h["filters"] for h in uvicorn["handlers"].values())
    console = next(h for h in logging.getLogger().handlers if h.name == "console")  # as Django set it up
    entry = record(f"paid with {CARD}")
    assert console.filter(entry) and "4111" not in console.format(entry)
    celery = logging.getLogger("test-celery-worker")
    celery.addHandler(logging.NullHandler())
    _mask_card_numbers(logger=celery)  # what Celery's after_setup_logger signal calls
    assert any(isinstance(f, MaskCardNumbers) for f in celery.handlers[0].filters)
