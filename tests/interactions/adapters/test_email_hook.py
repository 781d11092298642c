"""The inbound e-mail hook through the real HTTP stack: authentication, both body forms, idempotency,
threads, auto-replies and bounces, sizes, and every error writing nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from hub.models import StoredEvent
from interactions.connections.services import connection_create, connection_revoke
from interactions.models import Customer, Thread
from interactions.reachability.models import ReachFact
from tests.conftest import log_snapshot
from tests.interactions.adapters import emails
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db

SECRET = "mail-secret-0123456789abcdef"
URL = "/hooks/email/support/inbound"


@pytest.fixture
def mailbox():
    return connection_create(provider="email", name="support", secrets={"secret": SECRET})


def send(raw: bytes, *, secret: str | None = SECRET, url: str = URL, content_type="message/rfc822", **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
    return Client().generic("POST", url, raw, content_type=content_type, **headers, **extra)


def form(raw: bytes, boundary: str = "xYzZY") -> tuple[bytes, str]:
    # What inbound-parse services post in raw mode: the message in the `email` field, beside other fields.
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="to"\r\n\r\nsupport@shop.example\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="email"\r\n\r\n'
        ).encode()
        + raw
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="SPF"\r\n\r\npass\r\n'.encode()
        + f"--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def stored(**filters):
    return StoredEvent.objects.filter(source="/connections/email/support", **filters)


def test_add_connection_prints_the_inbound_path(capsys):
    call_command("add_connection", "email", "sales", "--secret", SECRET)
    assert capsys.readouterr().out == "inbound /hooks/email/sales/inbound\n"


def test_a_raw_message_becomes_one_email_event(mailbox):
    response = send(emails.REPLY_WITH_QUOTE)

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["duplicate"] is False and answer["position"] and answer["customer_id"]
    (event,) = stored()
    assert event.type == "message.received" and event.subject == "mailto:jane@example.com"
    assert event.data["text"] == "Thanks, that works for me.\n\nJane"
    assert event.data["in_reply_to"] == "<agent-1@shop.example>"
    assert event.metadata["connection"] == "support"


@pytest.mark.parametrize("in_url", [False, True])
def test_the_email_field_of_a_form_with_the_secret_in_the_header_or_the_url(mailbox, in_url):
    body, content_type = form(emails.with_attachment())
    url = f"{URL}?secret={SECRET}" if in_url else URL
    response = send(body, secret=None if in_url else SECRET, url=url, content_type=content_type)

    assert response.status_code == 200, response.content
    (event,) = stored()
    assert event.data["attachments"][0]["name"] == "invoice.pdf"
    assert len(event.data["attachments"][0]["sha256"]) == 64


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_AUTHORIZATION": "Bearer wrong"}, {"HTTP_AUTHORIZATION": f"Basic {SECRET}"}],
    ids=["none", "wrong", "not bearer"],
)
def test_a_missing_or_wrong_secret_is_403_and_writes_nothing(mailbox, headers):
    before = log_snapshot()
    response = Client().generic(
        "POST", URL, emails.REPLY_WITH_QUOTE, content_type="message/rfc822", **headers
    )
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert log_snapshot() == before


@pytest.mark.parametrize(
    "query",
    [
        f"secret={SECRET}&secret={SECRET}",
        f"%73ecret={SECRET}",
        f"SECRET={SECRET}",
        f"secret%3D{SECRET}",
        "secret=",
    ],
)
def test_a_secret_in_the_url_is_read_strictly(mailbox, query):
    # Spelled out, once: a credential has one way of being written, the one the log filter knows.
    assert send(emails.plain(), secret=None, url=f"{URL}?{query}").status_code == 403
    assert send(emails.plain(), secret=None, url=f"{URL}?x=1&secret={SECRET}").status_code == 200


def test_an_unknown_or_revoked_connection_is_404(mailbox):
    assert send(emails.plain(), url="/hooks/email/nobody/inbound").status_code == 404
    connection_revoke(mailbox)
    before = log_snapshot()
    response = send(emails.plain())
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert log_snapshot() == before


def test_the_same_message_delivered_twice_is_one_event(mailbox):
    first = send(emails.REPLY_WITH_QUOTE).json()
    again = send(emails.REPLY_WITH_QUOTE).json()
    body, content_type = form(emails.REPLY_WITH_QUOTE)
    through_form = send(body, content_type=content_type).json()

    assert again["duplicate"] is True and through_form["duplicate"] is True
    assert again["position"] == first["position"] == through_form["position"]
    assert stored().count() == 1


def test_another_senders_message_with_the_same_message_id_is_not_a_duplicate(mailbox):
    # Message-IDs are the sender's choice: one sent first under a customer's next Message-ID must not have
    # that customer's message dropped as its duplicate.
    forged = send(emails.plain(sender="Mallory <mallory@evil.example>", body="first\n")).json()
    real = send(emails.plain(body="Hello, where is my refund?\n")).json()
    again = send(emails.plain(body="Hello, where is my refund?\n")).json()

    assert forged["duplicate"] is False and real["duplicate"] is False
    assert real["position"] != forged["position"] and real["customer_id"] != forged["customer_id"]
    assert again["duplicate"] is True and again["position"] == real["position"]
    texts = sorted(e.data["text"] for e in stored())
    assert texts == ["Hello, where is my refund?", "first"]


def test_without_message_id_the_raw_message_is_the_key(mailbox):
    raw = emails.plain(message_id="")
    assert send(raw).json()["duplicate"] is False
    assert send(raw).json()["duplicate"] is True
    assert send(emails.plain(message_id="", body="something else\n")).json()["duplicate"] is False


def test_a_reply_to_an_agents_message_continues_its_thread(mailbox, api):
    agent = post(
        api,
        type="message.sent",
        subject="mailto:jane@example.com",
        data={
            "channel": "email",
            "text": "Your refund was issued",
            "conversation_ref": "<agent-1@shop.example>",
        },
    )
    reply = send(emails.REPLY_WITH_QUOTE).json()
    assert reply["thread_id"] == agent["thread_id"]
    assert reply["customer_id"] == agent["customer_id"]


def test_an_out_of_office_and_a_bounce_do_not_reopen_the_resolved_thread(mailbox, api, supervisor_api):
    agent = post(
        api,
        type="message.sent",
        subject="mailto:jane@example.com",
        data={
            "channel": "email",
            "text": "Your refund was issued",
            "conversation_ref": "<agent-1@shop.example>",
        },
    )
    assert supervisor_api.post(f"/api/v1/threads/{agent['thread_id']}/resolve").status_code == 201
    counts = Customer.objects.get(pk=agent["customer_id"]).channel_counts

    ooo = send(emails.OUT_OF_OFFICE).json()
    bounce = send(emails.bounce("5.1.1")).json()

    assert ooo["thread_id"] == bounce["thread_id"] == agent["thread_id"]
    assert Thread.objects.get(pk=agent["thread_id"]).status == "resolved"
    assert Customer.objects.get(pk=agent["customer_id"]).channel_counts == counts
    (event,) = [e for e in stored() if e.data.get("automated") == "bounce"]
    assert (event.data["bounce"], event.data["bounced_recipients"]) == ("hard", ["jane@example.com"])
    assert event.subject == "mailto:jane@example.com"


def test_a_read_receipt_joins_the_resolved_thread_without_reopening_it_or_changing_reachability(
    mailbox, api, supervisor_api
):
    """A read receipt was recorded as the customer writing: it reopened the resolved thread and counted."""
    agent = post(
        api,
        type="message.sent",
        subject="mailto:jane@example.com",
        data={
            "channel": "email",
            "text": "Your refund was issued",
            "conversation_ref": "<agent-1@shop.example>",
        },
    )
    assert supervisor_api.post(f"/api/v1/threads/{agent['thread_id']}/resolve").status_code == 201
    counts = Customer.objects.get(pk=agent["customer_id"]).channel_counts
    facts = list(ReachFact.objects.values())

    receipt = send(emails.read_receipt(in_reply_to="")).json()

    assert receipt["thread_id"] == agent["thread_id"]
    assert Thread.objects.get(pk=agent["thread_id"]).status == "resolved"
    assert Customer.objects.get(pk=agent["customer_id"]).channel_counts == counts
    assert list(ReachFact.objects.values()) == facts  # not a bounce, nor the customer writing
    assert stored().get().data["automated"] == "read-receipt"


@pytest.mark.parametrize(
    ("recipient", "subject", "recipients"),
    [
        ("rfc822; <jane@example.com>", "mailto:jane@example.com", ["jane@example.com"]),
        ("rfc822; jane@example.com (Jane Doe)", "mailto:jane@example.com", ["jane@example.com"]),
        ('rfc822; "Jane Doe" <jane@example.com>', "mailto:jane@example.com", ["jane@example.com"]),
        ("jane@example.com", "mailto:jane@example.com", ["jane@example.com"]),
        # Nothing the hub can read as a mail address: kept, as a bounce naming nobody, under the one address
        # the returned message was sent to (it was filed under the mail server that reported it).
        ("rfc822; undisclosed-recipients", "mailto:jane@example.com", None),
        ("x400; C=US;A=ATT;P=EXAMPLE", "mailto:jane@example.com", None),
    ],
)
def test_a_bounce_reads_each_way_servers_write_the_failed_recipient(mailbox, recipient, subject, recipients):
    # Those with a comment, a display name, or no address at all were a 400: the server bounced the bounce.
    response = send(emails.bounce(recipient=recipient))

    assert response.status_code == 200, response.content
    (event,) = stored()
    assert event.subject == subject
    assert (event.data["automated"], event.data["bounce"]) == ("bounce", "hard")
    assert event.data.get("bounced_recipients") == recipients


@pytest.mark.parametrize(
    "returned_to",
    [
        "jane@example.com, john@example.com",  # which of them failed is not said
        "undisclosed-recipients:;",
        "not an address",
        "",
    ],
)
def test_a_bounce_naming_no_readable_recipient_nor_one_returned_address_stays_its_senders(
    mailbox, returned_to
):
    response = send(emails.bounce(recipient="rfc822; undisclosed-recipients", returned_to=returned_to))

    assert response.status_code == 200, response.content
    (event,) = stored()
    assert event.subject == "mailto:mailer-daemon@mx.example.net"
    assert (event.data["automated"], event.data.get("bounced_recipients")) == ("bounce", None)


def test_a_failed_recipient_named_in_the_report_wins_over_the_returned_messages_to(mailbox):
    raw = emails.bounce(recipient="rfc822; john@example.com", returned_to="jane@example.com")

    assert send(raw).status_code == 200

    assert stored().get().subject == "mailto:john@example.com"


@pytest.mark.parametrize(
    ("recipient", "address"),
    [("rfc822; jane@example.com", "jane@example.com"), ("utf-8; jane@exämple.com", "jane@exämple.com")],
)
def test_a_global_delivery_status_bounce_is_about_the_failed_recipient(mailbox, recipient, address):
    # RFC 6533: the delivery status in UTF-8. It used to be filed under the mail server that reported it.
    raw = emails.bounce(report="message/global-delivery-status", recipient=recipient)

    response = send(raw)

    assert response.status_code == 200, response.content
    (event,) = stored()
    assert event.subject == f"mailto:{address}"
    assert (event.data["automated"], event.data["bounce"]) == ("bounce", "hard")
    assert event.data["bounced_recipients"] == [address]
    assert event.data["in_reply_to"] == "<agent-1@shop.example>"


def test_to_and_cc_keep_their_first_100_addresses_and_count_the_others(mailbox):
    to = [f"to.{i}@example.com" for i in range(250)]
    cc = [f"cc.{i}@example.com" for i in range(101)]
    raw = emails.plain(to=", ".join(to), extra_headers=f"Cc: {', '.join(cc)}\r\n")

    response = send(raw)

    assert response.status_code == 200, response.content
    data = stored().get().data
    assert (data["to"], data["to_omitted"]) == (to[:100], 150)
    assert (data["cc"], data["cc_omitted"]) == (cc[:100], 1)


def test_a_message_to_a_hundred_addresses_omits_none(mailbox):
    to = [f"to.{i}@example.com" for i in range(100)]

    assert send(emails.plain(to=", ".join(to))).status_code == 200

    data = stored().get().data
    assert data["to"] == to and "to_omitted" not in data and "cc" not in data and "cc_omitted" not in data


@override_settings(THREADLINE_EMAIL_MAX_BYTES=4096)
@pytest.mark.parametrize("as_form", [False, True])
def test_a_message_over_the_limit_is_413_and_writes_nothing(mailbox, as_form):
    raw = emails.plain(body="x" * 5000)
    body, content_type = form(raw) if as_form else (raw, "message/rfc822")
    before = log_snapshot()
    response = send(body, content_type=content_type)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert log_snapshot() == before


def test_a_declared_size_over_25_mb_is_413_before_reading(mailbox):
    response = send(emails.plain(), CONTENT_LENGTH=str(26 * 1024 * 1024))
    assert response.status_code == 413


def test_a_message_of_20_mb_is_accepted(mailbox):
    import base64
    import os

    content = os.urandom(15 * 1024 * 1024)
    raw = (
        b"From: jane@example.com\r\nMessage-ID: <big-1@x>\r\nSubject: logs\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nlogs attached\r\n--B\r\n"
        b'Content-Type: application/zip\r\nContent-Disposition: attachment; filename="logs.zip"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(content) + b"--B--\r\n"
    )
    assert 20 * 1024 * 1024 < len(raw) < 25 * 1024 * 1024
    response = send(raw)
    assert response.status_code == 200, response.content
    assert stored().get().data["attachments"][0]["size"] == len(content)


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"just words, no headers", "message/rfc822", 400),
        (b"From: nobody\r\n\r\nno address", "message/rfc822", 400),
        (b"", "message/rfc822", 400),
        (b'{"email": "x"}', "application/json", 415),
        (
            b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\nhi\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
            400,
        ),
        (b"garbage", "multipart/form-data", 400),
    ],
    ids=["no headers", "no address", "empty", "json", "form without email", "form without boundary"],
)
def test_malformed_or_unsupported_bodies_write_nothing(mailbox, raw, content_type, status):
    before = log_snapshot()
    response = send(raw, content_type=content_type, CONTENT_TYPE=content_type)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert log_snapshot() == before


def _multipart(parts: list[bytes]) -> bytes:
    head = emails.plain(body="").split(b"Content-Type:")[0]
    head += b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
    return head + b"".join(b"--BB\r\n" + p for p in parts) + b"--BB--\r\n"


def _attachment(i: int, params: int = 0) -> bytes:
    extra = "".join(f"; p{j}=v" for j in range(params))
    return (
        f'Content-Type: application/pdf; name="invoice-{i}.pdf"{extra}\r\n'
        f'Content-Disposition: attachment; filename="invoice-{i}.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("parts", "detail"),
    [
        # A thousand and one tiny parts: the parts are counted.
        ([b"Content-Type: text/plain\r\n\r\nhi\r\n"] * 1001, "more than 1,000 MIME parts"),
        # 400 parts, each with its own Content-Type of 100 parameters: 1 MB that took 17 s to read, since
        # each part's headers were parsed again and again; the distinct header text parsed is budgeted.
        ([_attachment(i, params=100) for i in range(400)], "MIME headers are over 262,144 characters"),
        # The parser holds each line as an object of its own until it joins a part's: 5 MB of empty lines
        # grew the process by 181 MB (a 25 MB message, about 0.9 GB). Lines are counted as they arrive.
        ([b"Content-Type: text/plain\r\n\r\n" + b"\r\n" * 500_001], "more than 500,000 lines"),
        # Header fields cost more still (2 MB of them, 68 MB): counted as the parser reads them.
        (
            [b"X-A: b\r\n" * 10_001 + b"Content-Type: text/plain\r\n\r\nhi\r\n"],
            "more than 10,000 header fields",
        ),
    ],
    ids=["parts", "header work", "lines", "header fields"],
)
def test_a_message_past_the_parts_or_header_budget_is_400_and_writes_nothing(mailbox, parts, detail):
    before = log_snapshot()

    response = send(_multipart(parts))

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert log_snapshot() == before


def test_a_message_with_250_attachments_is_within_the_budget(mailbox):
    # Exchange Online's limit: a real message of that many attachments is read whole.
    response = send(
        _multipart(
            [b"Content-Type: text/plain\r\n\r\nSee attached.\r\n"] + [_attachment(i) for i in range(250)]
        )
    )

    assert response.status_code == 200, response.content
    data = stored().get().data
    assert data["text"] == "See attached."
    assert len(data["attachments"]) == 50 and data["attachments_omitted"] == 200
    assert data["attachments"][49]["name"] == "invoice-49.pdf"


@pytest.mark.parametrize(
    "sender",
    [
        "victim@example.com)<attacker@evil.example>",
        "victim@example.com <attacker@evil.example>",
        "victim@example.com Jane <attacker@evil.example>",
        "<victim@example.com> <attacker@evil.example>",
        "Victim <victim@example.com>, Attacker <attacker@evil.example>",
        "victim@example.com, attacker@evil.example",
        "victim@example.com (",
    ],
)
def test_a_from_header_that_is_not_one_clean_address_is_400_naming_from_and_writes_nothing(mailbox, sender):
    # The parser reads the first two as victim@example.com, flagging them invalid: they used to be filed
    # under the victim.
    before = log_snapshot()

    response = send(emails.plain(sender=sender))

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"].startswith("From: ")
    assert log_snapshot() == before


@pytest.mark.parametrize(
    ("sender", "address", "name"),
    [
        ("Jane Doe <jane@example.com", "jane@example.com", "Jane Doe"),  # its '>' lost: one angle address
        ("Jane <jane@example.com> (unclosed comment", "jane@example.com", "Jane"),
        ("Jane <jane@example.com>, not an address", "jane@example.com", "Jane"),
    ],
)
def test_a_flagged_from_header_with_exactly_one_angle_address_is_filed_under_it(
    mailbox, sender, address, name
):
    response = send(emails.plain(sender=sender))

    assert response.status_code == 200, response.content
    (event,) = stored()
    assert event.subject == f"mailto:{address}"
    assert (event.data["from"], event.data["sender_name"]) == (address, name)


def _with_part(content_type: bytes, disposition: bytes | None) -> bytes:
    return (
        b"From: jane@example.com\r\nMessage-ID: <mime-1@x>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--B\r\nContent-Type: "
        + content_type
        + b"\r\n"
        + (b"Content-Disposition: " + disposition + b"\r\n" if disposition else b"")
        + b"Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8=\r\n--B--\r\n"
    )


@pytest.mark.parametrize(
    ("raw", "text", "attachment"),
    [
        (emails.plain(body="hello\n").replace(b'charset="utf-8"', b"charset*"), "hello", None),
        (emails.plain(body="hello\n").replace(b'charset="utf-8"', b"x*=utf-16''%41"), "hello", None),
        (emails.plain(body="hello\n").replace(b'charset="utf-8"', b"charset*=utf-16''%41"), "hello", None),
        (emails.plain(body="hello\n").replace(b'charset="utf-8"', b"charset*=u\x00tf-8''x"), "hello", None),
        (
            emails.plain(body="hello\n").replace(
                b'text/plain; charset="utf-8"', b"multipart/mixed; boundary*"
            ),
            "hello",
            None,
        ),
        (_with_part(b"application/pdf", b"attachment; filename*=utf-16''%41"), "see attached", 5),
        (_with_part(b"application/pdf", b"attachment; filename*=u\x00tf-8''a.pdf"), "see attached", 5),
        (_with_part(b"application/pdf", b"attachment; filename*"), "see attached", 5),
        (_with_part(b"application/pdf; name*=utf-16''%41", None), "see attached", 5),
        (_with_part(b"text/plain", b"attachment; filename*=utf-16''%41"), "see attached", 5),
    ],
    ids=[
        "charset* without value",
        "x*= odd utf-16",
        "charset*= odd utf-16",
        "charset*= NUL in its charset",
        "boundary* without value",
        "filename*= odd utf-16",
        "filename*= NUL in its charset",
        "filename* without value",
        "name*= odd utf-16",
        "text attachment, filename*= odd utf-16",
    ],
)
def test_a_malformed_mime_parameter_is_read_as_absent_and_the_mail_kept(mailbox, raw, text, attachment):
    # Each used to raise inside the parser (IndexError, UnicodeDecodeError, ValueError): a 500.
    response = send(raw)

    assert response.status_code == 200, response.content
    (event,) = stored()
    assert event.data["text"] == text
    if attachment is None:
        assert "attachments" not in event.data
    else:
        (recorded,) = event.data["attachments"]
        assert recorded["size"] == attachment and recorded["name"]


def test_an_internationalised_domain_sent_as_utf8_is_the_senders_identifier(mailbox):
    response = send(emails.plain(sender="Jane <jane@exämple.com>"))

    assert response.status_code == 200, response.content
    (event,) = stored()
    assert event.subject == "mailto:jane@exämple.com"
    assert event.data["from"] == "jane@exämple.com"


def test_a_bounced_recipient_with_an_internationalised_domain_is_the_bounces_subject(mailbox):
    raw = emails.bounce().replace(
        b"Final-Recipient: rfc822; jane@example.com", "Final-Recipient: rfc822; jane@exämple.com".encode()
    )

    response = send(raw)

    assert response.status_code == 200, response.content
    (event,) = stored()
    assert event.subject == "mailto:jane@exämple.com"
    assert event.data["bounced_recipients"] == ["jane@exämple.com"]


def test_a_from_address_that_is_not_utf8_is_400_naming_its_header(mailbox):
    # Latin-1 bytes: read with replacements, jane@ex\xe4mple.com and jane@ex\xf6mple.com would be one
    # identifier.
    before = log_snapshot()

    response = send(emails.plain().replace(b"jane@example.com", b"jane@ex\xe4mple.com"))

    assert response.status_code == 400, response.content
    assert response.json()["detail"] == "From: the address is not UTF-8"
    assert log_snapshot() == before


def test_a_bounce_whose_failed_recipient_is_not_utf8_is_kept_under_its_sender(mailbox):
    # Not made an identifier (see above), but not refused either: refusing a bounce loses it. (The returned
    # message names two recipients, so which one failed is not known.)
    raw = emails.bounce(returned_to="jane@example.com, john@example.com").replace(
        b"rfc822; jane@example.com", b"rfc822; jane@ex\xe4mple.com"
    )

    response = send(raw)

    assert response.status_code == 200, response.content
    (event,) = stored()
    assert event.subject == "mailto:mailer-daemon@mx.example.net"
    assert event.data["bounced_recipients"] == ["jane@ex\ufffdmple.com"]


def test_get_is_not_allowed(mailbox):
    response = Client().get(URL)
    assert response.status_code == 405
