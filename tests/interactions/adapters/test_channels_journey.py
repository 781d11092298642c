"""Issue 15's journey through the real hooks: a customer texts through Twilio, e-mails a reply to an agent's
message, then writes on WhatsApp through Meta; one customer, one thread across the three channels."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from email.utils import format_datetime

import pytest
from django.test import Client
from django.utils import timezone

from interactions.connections.services import connection_create
from tests.conftest import ingested
from tests.interactions.adapters import meta_payloads as m
from tests.interactions.adapters import twilio_payloads as tw
from tests.interactions.helpers import context, post

pytestmark = pytest.mark.django_db

MAIL_SECRET = "journey-mail-secret-0123456789"
APP_SECRET = "journey-app-secret"


@pytest.fixture
def connections():
    connection_create(provider="twilio", name="acme", secrets={"auth_token": tw.AUTH_TOKEN})
    connection_create(provider="email", name="support", secrets={"secret": MAIL_SECRET})
    connection_create(provider="meta", name="main", secrets={"app_secret": APP_SECRET, "verify_token": "v"})


def test_sms_then_email_reply_then_whatsapp_is_one_customer_and_one_thread(connections, api):
    client = Client()
    phone = tw.CUSTOMER  # +15558675310

    # 1. The customer texts the shop's number; Twilio posts the message to the messaging hook.
    sms = tw.inbound_sms(Body="Hi, my order 1042 has not arrived")
    assert tw.signed_post(client, "/hooks/twilio/acme/messaging", sms).status_code == 200
    (texted,) = ingested()
    customer, thread = texted.metadata["customer_id"], texted.metadata["thread_id"]

    # 2. An agent answers by e-mail on that thread, from the desk (which knows the customer's address):
    #    the message.sent carries the Message-ID the e-mail went out with.
    sent = post(
        api,
        type="message.sent",
        subject="mailto:jane@example.com",
        time=timezone.now().isoformat(),
        data={
            "channel": "email",
            "text": "Sorry about that: it ships today.",
            "thread_id": thread,
            "identifiers": [f"tel:{phone}"],
            "conversation_ref": "<agent-1042@shop.example>",
            "message_ref": "<agent-1042@shop.example>",
        },
    )
    assert (sent["customer_id"], sent["thread_id"]) == (customer, thread)

    # 3. The customer replies to that e-mail; the mail server pipes it to the inbound hook.
    reply = (
        "From: Jane Doe <jane@example.com>\r\nTo: support@shop.example\r\nSubject: Re: Your order 1042\r\n"
        f"Date: {format_datetime(timezone.now())}\r\nMessage-ID: <jane-1@mail.example.com>\r\n"
        "In-Reply-To: <agent-1042@shop.example>\r\nReferences: <agent-1042@shop.example>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Thanks, I will watch for it.\r\n\r\n"
        "On Mon, Support <support@shop.example> wrote:\r\n> it ships today\r\n"
    ).encode()
    mailed = client.generic(
        "POST",
        "/hooks/email/support/inbound",
        reply,
        content_type="message/rfc822",
        HTTP_AUTHORIZATION=f"Bearer {MAIL_SECRET}",
    ).json()
    assert (mailed["customer_id"], mailed["thread_id"]) == (customer, thread)

    # 4. Then they write on WhatsApp, from the same phone number; Meta posts the signed delivery.
    message = m.wa_message(
        sender=phone.lstrip("+"), timestamp=str(int(time.time())), text={"body": "Got it!"}
    )
    body = json.dumps(
        m.whatsapp(m.wa_value(messages=[message], contacts=[m.wa_contact(phone.lstrip("+"))]))
    ).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    delivered = client.generic(
        "POST",
        "/hooks/meta/main/webhook",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )
    (whatsapp,) = delivered.json()["results"]
    assert (whatsapp["customer_id"], whatsapp["thread_id"]) == (customer, thread)

    # One customer, known by the phone number and the address, with one thread across the three channels.
    for identifier in (f"tel:{phone}", "mailto:jane@example.com"):
        answer = context(api, identifier)
        assert answer["customer"]["id"] == customer
        assert sorted(answer["customer"]["identifiers"]) == sorted(
            [f"tel:{phone}", "mailto:jane@example.com"]
        )
        assert [t["id"] for t in answer["open_threads"]] == [thread]
        timeline = answer["open_threads"][0]["recent"]
        assert [
            (e["channel"], e["direction"], e["text"]) for e in sorted(timeline, key=lambda e: e["position"])
        ] == [
            ("sms", "inbound", "Hi, my order 1042 has not arrived"),
            ("email", "outbound", "Sorry about that: it ships today."),
            ("email", "inbound", "Thanks, I will watch for it."),
            ("whatsapp", "inbound", "Got it!"),
        ]
        assert answer["customer"]["channel_counts"] == {"sms": 1, "email": 2, "whatsapp": 1}
