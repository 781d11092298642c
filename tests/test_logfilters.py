"""Credentials in query strings never reach the logs."""

import logging

from config.logfilters import RedactTokens


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
