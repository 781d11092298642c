"""Reading a message as it streams in: raw bodies and the `email` field of a form, with the size limit."""

from __future__ import annotations

import pytest

from interactions.adapters.email.message import EmailTooLarge, MalformedEmail
from interactions.adapters.email.upload import UnsupportedEmailType, read_email
from tests.interactions.adapters import emails


def chunks(data: bytes, size: int = 7):
    return (data[i : i + size] for i in range(0, len(data), size))


def form(fields: list[tuple[str, bytes, str | None]], boundary: str = "----form42") -> tuple[str, bytes]:
    body = b""
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def test_raw_body_in_small_chunks():
    parsed = read_email("message/rfc822", chunks(emails.REPLY_WITH_QUOTE), limit=10_000)
    assert parsed.message_id == "<reply-1@mail.example.com>"
    assert parsed.size == len(emails.REPLY_WITH_QUOTE)


@pytest.mark.parametrize("filename", [None, "message.eml"])
def test_email_field_of_a_form_as_field_or_file(filename):
    content_type, body = form(
        [
            ("to", b"support@shop.example", None),
            ("email", emails.REPLY_WITH_QUOTE, filename),
            ("spam_score", b"0", None),
        ]
    )
    parsed = read_email(content_type, chunks(body, 100), limit=10_000)
    assert parsed.in_reply_to == "<agent-1@shop.example>"
    assert parsed.size == len(emails.REPLY_WITH_QUOTE)


def test_form_without_email_field_is_malformed():
    content_type, body = form([("text", b"hello", None)])
    with pytest.raises(MalformedEmail, match="no `email` field"):
        read_email(content_type, chunks(body), limit=10_000)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n"),  # no boundary
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="email"\r\n\r\nab'),
    ],
)
def test_broken_forms_are_malformed(content_type, body):
    with pytest.raises(MalformedEmail):
        read_email(content_type, chunks(body), limit=10_000)


def test_other_media_types_are_unsupported():
    with pytest.raises(UnsupportedEmailType):
        read_email("application/json", chunks(b"{}"), limit=10_000)


def test_raw_message_over_the_limit_stops_reading():
    consumed = []

    def counted():
        for chunk in chunks(emails.plain(body="y" * 5000), 500):
            consumed.append(len(chunk))
            yield chunk

    with pytest.raises(EmailTooLarge):
        read_email("message/rfc822", counted(), limit=2000)
    assert sum(consumed) <= 2500  # it stopped at the chunk that crossed the limit, not at the end


def test_form_field_over_the_limit_is_too_large():
    content_type, body = form([("email", emails.plain(body="y" * 5000), None)])
    with pytest.raises(EmailTooLarge):
        read_email(content_type, chunks(body, 500), limit=2000)


def test_a_large_message_is_parsed_as_it_streams_and_its_attachment_not_kept():
    import base64
    import gc
    import hashlib
    import os
    import tracemalloc

    content = os.urandom(4 * 1024 * 1024)
    raw = (
        b"From: jane@example.com\r\nMessage-ID: <big@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\n"
        b'Content-Type: application/zip\r\nContent-Disposition: attachment; filename="logs.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(content).replace(b"\n", b"\r\n")
        + b"--B--\r\n"
    )
    pieces = [raw[i : i + 65536] for i in range(0, len(raw), 65536)]
    gc.collect()
    tracemalloc.start()
    try:
        parsed = read_email("message/rfc822", iter(pieces), limit=len(raw))
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert parsed.attachments[0].sha256 == hashlib.sha256(content).hexdigest()
    # What stays is the parsed text and headers, not the 4 MB file; while parsing, the standard library's
    # parser holds the part's lines and then their join (3-3.6x the message), never the raw bytes too.
    assert held < 256 * 1024
    assert peak < 4 * len(raw)
