"""The Meta hook through the real HTTP stack: the handshake, signatures computed as Meta documents them
(HMAC-SHA256 of the raw body with the app secret), one batch per delivery, idempotency, ignored kinds, and
every error writing nothing."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.core.management import call_command
from django.test import Client

from hub.models import StoredEvent
from interactions.connections.models import IgnoredDelivery
from interactions.connections.services import connection_create, connection_revoke, ignored_counts
from interactions.models import Customer
from tests.conftest import log_snapshot
from tests.interactions.adapters import meta_payloads as m
from tests.interactions.helpers import context, post

pytestmark = pytest.mark.django_db

APP_SECRET = "meta-app-secret-0123456789"
VERIFY = "my-verify-token"
URL = "/hooks/meta/main/webhook"


@pytest.fixture
def app():
    return connection_create(
        provider="meta", name="main", secrets={"app_secret": APP_SECRET, "verify_token": VERIFY}
    )


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(payload, *, signature: str | None = "good", body: bytes | None = None):
    body = body if body is not None else json.dumps(payload).encode()
    headers = {}
    if signature == "good":
        headers["HTTP_X_HUB_SIGNATURE_256"] = sign(body)
    elif signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    return Client().generic("POST", URL, body, content_type="application/json", **headers)


def stored():
    return StoredEvent.objects.filter(source="/connections/meta/main").order_by("position")


def test_add_connection_prints_the_webhook_path(capsys):
    call_command("add_connection", "meta", "other", "--app-secret", "s", "--verify-token", "v")
    assert capsys.readouterr().out == "webhook /hooks/meta/other/webhook\n"


def test_the_handshake_echoes_the_challenge_as_text(app):
    response = Client().get(
        URL, {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
    ids=["wrong token", "wrong mode", "no token"],
)
def test_a_wrong_handshake_is_403(app, params):
    response = Client().get(URL, params)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("challenge", [None, ""], ids=["missing", "empty"])
def test_a_verified_handshake_without_its_challenge_is_400_saying_so(app, challenge):
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY}
    if challenge is not None:
        params["hub.challenge"] = challenge

    response = Client().get(URL, params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"].startswith("hub.challenge is missing")


def test_a_delivery_for_many_customers_is_one_batch(app):
    payload = m.whatsapp(
        m.wa_value(
            messages=[m.wa_message(wamid="wamid.A"), m.wa_message(wamid="wamid.B", sender="447700900123")],
            contacts=[m.wa_contact(), m.wa_contact("447700900123", "Tom")],
        ),
        m.wa_value(statuses=[m.wa_status("delivered", wamid="wamid.AGENT1")]),
    )
    response = deliver(payload)

    assert response.status_code == 200, response.content
    answer = response.json()
    assert len(answer["results"]) == 3 and answer["ignored"] == 0
    assert [e.type for e in stored()] == ["message.received", "message.received", "message.status"]
    assert {e.subject for e in stored()} == {"tel:+15551234567", "tel:+447700900123"}
    assert all(e.metadata["connection"] == "main" for e in stored())


def test_a_delivery_with_an_empty_profile_name_is_stored_whole(app):
    """An empty WhatsApp profile name answered 400 and wrote nothing, every other message of the delivery
    included; Meta sent it again and again."""
    payload = m.whatsapp(
        m.wa_value(
            messages=[m.wa_message(wamid="wamid.A"), m.wa_message(wamid="wamid.B", sender="447700900123")],
            contacts=[m.wa_contact(name=""), m.wa_contact("447700900123", "Tom")],
        )
    )
    response = deliver(payload)

    assert response.status_code == 200, response.content
    assert [e.data.get("sender_name") for e in stored()] == [None, "Tom"]


def test_a_document_named_past_255_characters_is_kept_with_its_name_cut(app):
    """The catalogue keeps 255 characters of a name: the whole delivery, the other message in it too, was
    refused with a 400, and Meta's retries with it."""
    document = m.wa_message("document", wamid="wamid.DOC")
    document["document"] = {**document["document"], "filename": "x" * 300 + ".pdf"}
    payload = m.whatsapp(
        m.wa_value(messages=[document, m.wa_message(wamid="wamid.TXT")], contacts=[m.wa_contact()])
    )

    response = deliver(payload)

    assert response.status_code == 200, response.content
    assert [e.type for e in stored()] == ["message.received", "message.received"]
    (attachment,) = next(e for e in stored() if e.data.get("attachments")).data["attachments"]
    assert attachment["name"] == "x" * 255


def test_a_status_to_an_older_brazilian_whatsapp_id_stays_with_its_customer(app, api):
    sent = post(
        api,
        subject="tel:+551187654321",
        type="message.sent",
        data={"channel": "whatsapp", "text": "your order", "message_ref": "wamid.BR1"},
    )

    answer = deliver(
        m.whatsapp(
            m.wa_value(statuses=[m.wa_status("delivered", wamid="wamid.BR1", recipient="551187654321")])
        )
    )

    assert answer.status_code == 200, answer.content
    (status,) = [e for e in stored() if e.type == "message.status"]
    assert (status.metadata["customer_id"], status.metadata["thread_id"]) == (
        sent["customer_id"],
        sent["thread_id"],
    )


def test_whatsapp_joins_the_customer_of_the_phone_number(app, api):
    sms = post(api, subject="tel:+15551234567", data={"channel": "sms", "text": "texting you"})
    deliver(m.whatsapp(m.wa_value(messages=[m.wa_message()])))
    (event,) = stored()
    assert event.metadata["customer_id"] == sms["customer_id"]
    assert event.data["channel"] == "whatsapp"
    assert context(api, "tel:+15551234567")["customer"]["channel_counts"] == {"sms": 1, "whatsapp": 1}


def test_a_brazilian_id_without_its_ninth_digit_joins_the_customers_of_both_forms_of_the_number(app, api):
    # Before ids were read as the number, this id made a customer of tel:+551187654321 (here, posted so).
    before = post(api, subject="tel:+551187654321", data={"channel": "whatsapp", "text": "old thread"})
    sms = post(api, subject="tel:+5511987654321", data={"channel": "sms", "text": "texting you"})

    deliver(m.whatsapp(m.wa_value(messages=[m.wa_message(sender="551187654321")])))

    (event,) = stored()
    assert event.subject == "tel:+5511987654321"
    survivor = context(api, "tel:+5511987654321")["customer"]
    assert survivor["id"] == context(api, "tel:+551187654321")["customer"]["id"]  # one person, merged
    assert {before["customer_id"], sms["customer_id"]} >= {survivor["id"]}


def test_a_retried_delivery_writes_nothing_twice(app):
    payload = m.whatsapp(m.wa_value(messages=[m.wa_message()], statuses=[m.wa_status("read")]))
    first = deliver(payload).json()["results"]
    again = deliver(payload).json()["results"]
    assert [r["duplicate"] for r in again] == [True, True]
    assert [r["position"] for r in again] == [r["position"] for r in first]
    assert stored().count() == 2


def test_messenger_and_instagram(app):
    deliver(m.messenger(m.social_message(psid="6789012345678901")))
    deliver(m.messenger(m.social_message(psid="17841400000000001", mid="m_IG1"), kind="instagram"))
    assert [e.subject for e in stored()] == [
        "social:messenger:6789012345678901",
        "social:instagram:17841400000000001",
    ]
    assert Customer.objects.count() == 2


def test_kinds_the_hub_does_not_use_are_acknowledged_and_counted(app):
    before = log_snapshot()
    payload = m.whatsapp(m.wa_value(messages=[m.wa_message("contacts")], statuses=[m.wa_status("deleted")]))
    response = deliver(payload)
    assert response.status_code == 200
    assert response.json() == {"results": [], "ignored": 2}
    assert deliver({"object": "permissions", "entry": [{"id": "1"}]}).status_code == 200
    assert log_snapshot() == before
    assert ignored_counts(app) == {
        "object.permissions": 1,
        "whatsapp.message.contacts": 1,
        "whatsapp.status.deleted": 1,
    }


def test_errors_about_the_number_and_a_standby_list_beside_messaging_are_counted(app):
    # README: anything the hub does not use is acknowledged and counted; these were neither.
    value = m.wa_value()
    value["errors"] = [{"code": 131051, "title": "Message type unknown"}]
    assert deliver(m.whatsapp(value)).json() == {"results": [], "ignored": 1}
    entry = {"id": "1", "time": 1795428000000, "messaging": [], "standby": [{"sender": {"id": "1"}}]}
    assert deliver({"object": "page", "entry": [entry]}).json() == {"results": [], "ignored": 1}

    assert ignored_counts(app) == {"whatsapp.value.error": 1, "messenger.entry.standby": 1}


def test_an_ignored_kind_is_kept_without_card_numbers_or_what_the_database_refuses(app):
    """Kinds name parts of a delivery in the sender's words (a change's `field`, an `object`): a card number
    there is masked, and NUL or a lone surrogate, which PostgreSQL refuses, is replaced; the delivery's
    message, written before the parts are counted, is answered 200 (it was a 500 saying nothing was applied,
    so Meta delivered it again for ever)."""
    payload = m.whatsapp(m.wa_value(messages=[m.wa_message()]))
    payload["entry"][0]["changes"] += [
        {"field": "4111 1111 1111 1111", "value": {}},
        {"field": "pan=4111111111111111", "value": {}},
        {"field": "x\u0000", "value": {}},
        {"field": "y\ud800", "value": {}},
    ]
    body = json.dumps(payload).encode()

    response = deliver(payload, body=body)

    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 1 and response.json()["ignored"] == 4
    assert ignored_counts(app) == {
        "whatsapp.field.****-****-****-1111": 1,
        "whatsapp.field.pan-************1111": 1,
        "whatsapp.field.x-": 1,
        "whatsapp.field.y-": 1,
    }


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, "sha1=abc", "garbage", "wrong secret", "sha256=\xe9", "sha256=" + "é" * 64],
)
def test_a_bad_or_missing_signature_is_403_and_writes_nothing(app, signature):
    payload = m.whatsapp(m.wa_value(messages=[m.wa_message()]))
    body = json.dumps(payload).encode()
    if signature == "wrong secret":
        signature = sign(body, "another-secret")
    before = log_snapshot()
    response = deliver(payload, signature=signature, body=body)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert log_snapshot() == before
    assert not IgnoredDelivery.objects.exists()


def test_a_signature_over_other_bytes_is_403(app):
    payload = m.whatsapp(m.wa_value(messages=[m.wa_message()]))
    body = json.dumps(payload).encode()
    response = deliver(payload, signature=sign(json.dumps(payload, indent=1).encode()), body=body)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", None),
        (b"\xff\xfe", None),
        (b'{"object": "page", "entry": [' + b"[" * 100 + b"]" * 100 + b"]}", None),
        (json.dumps([]).encode(), "$"),
        (
            json.dumps(m.whatsapp(m.wa_value(messages=[m.wa_message(sender="+1555")]))).encode(),
            "$.entry[0].changes[0].value.messages[0].from",
        ),
        (
            json.dumps(m.whatsapp(m.wa_value(messages=[m.wa_message(text={"body": "a\u0000b"})]))).encode(),
            "data.text",
        ),
    ],
    ids=["not json", "not utf-8", "too deep", "not an object", "bad number", "NUL in text"],
)
def test_a_malformed_delivery_is_400_naming_where_and_writes_nothing(app, body, field):
    before = log_snapshot()
    response = deliver(None, body=body)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    if field:
        assert field in [e.get("field") for e in response.json()["errors"]], response.json()
    assert log_snapshot() == before


def test_one_bad_message_makes_the_whole_delivery_write_nothing(app):
    payload = m.whatsapp(
        m.wa_value(messages=[m.wa_message(wamid="wamid.ok"), m.wa_message(wamid="wamid.bad", timestamp="x")])
    )
    before = log_snapshot()
    assert deliver(payload).status_code == 400
    assert log_snapshot() == before


def test_an_unknown_or_revoked_connection_is_404(app):
    payload = m.whatsapp(m.wa_value(messages=[m.wa_message()]))
    body = json.dumps(payload).encode()
    response = Client().generic(
        "POST",
        "/hooks/meta/nobody/webhook",
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body),
    )
    assert response.status_code == 404
    connection_revoke(app)
    assert deliver(payload).status_code == 404
    assert (
        Client()
        .get(URL, {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"})
        .status_code
        == 404
    )
    assert not stored().exists()


def test_other_methods_are_405(app):
    assert Client().put(URL).status_code == 405


def test_a_status_joins_the_thread_of_the_agents_message_and_leaves_it_resolved(app, api, supervisor_api):
    sent = post(
        api,
        type="message.sent",
        subject="tel:+15551234567",
        data={"channel": "whatsapp", "text": "Your parcel ships today", "message_ref": "wamid.AGENT1"},
    )
    assert supervisor_api.post(f"/api/v1/threads/{sent['thread_id']}/resolve").status_code == 201

    (result,) = deliver(m.whatsapp(m.wa_value(statuses=[m.wa_status("read", wamid="wamid.AGENT1")]))).json()[
        "results"
    ]

    assert result["thread_id"] == sent["thread_id"]
    assert context(api, "tel:+15551234567")["open_threads"] == []
