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
