"""Meta deliveries as CloudEvents: every kind the hub uses, what it ignores, what is malformed."""

from __future__ import annotations

import hashlib

import pytest

from interactions.adapters.meta.signature import challenge, signature_valid
from interactions.adapters.meta.translate import UnreadablePayload, translate
from tests.interactions.adapters import meta_payloads as m

SOURCE = "/hooks/meta/main"


def one(payload) -> dict:
    result = translate(payload, source=SOURCE)
    (event,) = result.events
    return event


def test_whatsapp_text_becomes_a_message_on_the_phone_number():
    event = one(m.whatsapp(m.wa_value(messages=[m.wa_message()], contacts=[m.wa_contact()])))
    assert event["type"] == "message.received"
    assert event["subject"] == "tel:+15551234567"
    assert event["time"] == "2026-11-23T10:00:00+00:00"
    assert event["data"] == {
        "channel": "whatsapp",
        "direction": "inbound",
        "text": "Hi, is my order shipped?",
        "message_ref": "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQTdGRUQ=",
        "sender_name": "Jane Doe",
    }


def test_whatsapp_media_is_metadata_only():
    data = one(m.whatsapp(m.wa_value(messages=[m.wa_message("image")])))["data"]
    assert data["text"] == "the broken part"
    assert data["attachments"] == [
        {
            "name": "image",
            "media_id": "1479537139650973",
            "content_type": "image/jpeg",
            "sha256": hashlib.sha256(b"an image").hexdigest(),
        }
    ]
    document = one(m.whatsapp(m.wa_value(messages=[m.wa_message("document")])))["data"]
    assert document["attachments"][0]["name"] == "receipt.pdf"


def test_whatsapp_location_button_list_and_reaction():
    location = one(m.whatsapp(m.wa_value(messages=[m.wa_message("location")])))["data"]
    assert location["location"]["latitude"] == 48.8566 and location["text"] == "Shop, 1 Rue X, Paris"
    button = one(m.whatsapp(m.wa_value(messages=[m.wa_message("interactive")])))["data"]
    assert button["reply"] == {"kind": "button", "id": "yes-ship", "title": "Yes, ship it"}
    listed = one(
        m.whatsapp(
            m.wa_value(
                messages=[
                    m.wa_message(
                        "interactive",
                        interactive={
                            "type": "list_reply",
                            "list_reply": {"id": "r2", "title": "Returns", "description": "Send it back"},
                        },
                    )
                ]
            )
        )
    )["data"]
    assert listed["reply"] == {"kind": "list", "id": "r2", "title": "Returns", "description": "Send it back"}
    reaction = one(m.whatsapp(m.wa_value(messages=[m.wa_message("reaction")])))["data"]
    assert reaction["reaction"] == {"message_ref": "wamid.AGENT1", "emoji": "\U0001f44d"}
    assert reaction["in_reply_to"] == "wamid.AGENT1"


def test_whatsapp_reply_context_continues_the_agents_message():
    message = m.wa_message(context={"from": "15550001111", "id": "wamid.AGENT1"})
    assert one(m.whatsapp(m.wa_value(messages=[message])))["data"]["in_reply_to"] == "wamid.AGENT1"


@pytest.mark.parametrize("status", ["sent", "delivered", "read", "failed"])
def test_whatsapp_statuses(status):
    extra = {"errors": [{"code": 131026, "title": "Message undeliverable"}]} if status == "failed" else {}
    event = one(m.whatsapp(m.wa_value(statuses=[m.wa_status(status, **extra)])))
    assert event["type"] == "message.status"
    assert event["subject"] == "tel:+15551234567"
    assert event["data"]["status"] == status and event["data"]["message_ref"] == "wamid.AGENT1"
    if status == "failed":
        assert event["data"]["error_code"] == "131026"
        assert event["data"]["error_message"] == "Message undeliverable"


def test_many_customers_in_one_delivery_and_ids_from_provider_ids():
    payload = m.whatsapp(
        m.wa_value(
            messages=[m.wa_message(wamid="wamid.A"), m.wa_message(wamid="wamid.B", sender="447700900123")]
        ),
        m.wa_value(statuses=[m.wa_status("sent"), m.wa_status("delivered")]),
    )
    result = translate(payload, source=SOURCE)
    assert [e["subject"] for e in result.events] == [
        "tel:+15551234567",
        "tel:+447700900123",
        "tel:+15551234567",
        "tel:+15551234567",
    ]
    assert len({e["id"] for e in result.events}) == 4
    assert translate(payload, source=SOURCE).events == result.events  # the same delivery, the same ids


def test_unused_kinds_are_counted_not_translated():
    payload = m.whatsapp(
        m.wa_value(
            messages=[m.wa_message("contacts"), m.wa_message("unsupported")],
            statuses=[m.wa_status("deleted")],
        )
    )
    result = translate(payload, source=SOURCE)
    assert result.events == []
    assert result.ignored == [
        "whatsapp.message.contacts",
        "whatsapp.message.unsupported",
        "whatsapp.status.deleted",
    ]
    assert translate(m.whatsapp({"x": 1}, field="account_update"), source=SOURCE).ignored == [
        "whatsapp.field.account_update"
    ]
    assert translate({"object": "permissions", "entry": []}, source=SOURCE).ignored == ["object.permissions"]


def test_messenger_and_instagram_messages_are_social():
    event = one(m.messenger(m.social_message()))
    assert event["subject"] == "social:messenger:6789012345678901"
    assert event["time"] == "2026-11-23T10:00:00+00:00"
    assert event["data"] == {
        "channel": "social",
        "direction": "inbound",
        "message_ref": "m_AbCdEf",
        "text": "Hello from Messenger",
    }
    event = one(m.messenger(m.social_message(psid="17841400000000001"), kind="instagram"))
    assert event["subject"] == "social:instagram:17841400000000001"


def test_messenger_psid_that_passes_luhn_is_accepted():
    # 4111111111111111 passes the Luhn check; as a Messenger id it is the platform's id.
    assert (
        one(m.messenger(m.social_message(psid="4111111111111111")))["subject"]
        == "social:messenger:4111111111111111"
    )


def test_messenger_attachments_reactions_postbacks_and_deliveries():
    attachment = m.social_message(
        text=None, attachments=[{"type": "image", "payload": {"url": "https://cdn.example/x?sig=1"}}]
    )
    assert one(m.messenger(attachment))["data"]["attachments"] == [{"name": "image"}]
    reaction = {
        "sender": {"id": "678901"},
        "recipient": {"id": "1"},
        "timestamp": 1795428000000,
        "reaction": {"mid": "m_AGENT", "action": "react", "emoji": "\u2764"},
    }
    assert one(m.messenger(reaction))["data"]["reaction"] == {
        "message_ref": "m_AGENT",
        "emoji": "\u2764",
        "action": "react",
    }
    empty = {**reaction, "reaction": {"mid": "m_AGENT", "action": "", "emoji": "\u2764"}}
    assert one(m.messenger(empty))["data"]["reaction"]["action"] == "react"
    unreact = {**reaction, "reaction": {"mid": "m_AGENT", "action": "unreact"}}
    assert one(m.messenger(unreact))["data"]["reaction"] == {
        "message_ref": "m_AGENT",
        "emoji": None,
        "action": "unreact",
    }
    postback = {
        "sender": {"id": "678901"},
        "recipient": {"id": "1"},
        "timestamp": 1795428000000,
        "postback": {"title": "Track order", "payload": "TRACK", "mid": "m_PB"},
    }
    assert one(m.messenger(postback))["data"]["reply"] == {
        "kind": "button",
        "id": "TRACK",
        "title": "Track order",
    }
    delivery = {
        "sender": {"id": "678901"},
        "recipient": {"id": "1"},
        "timestamp": 1795428000000,
        "delivery": {"mids": ["m_A1", "m_A2"], "watermark": 1},
    }
    statuses = translate(m.messenger(delivery), source=SOURCE).events
    assert [(e["type"], e["data"]["message_ref"], e["data"]["status"]) for e in statuses] == [
        ("message.status", "m_A1", "delivered"),
        ("message.status", "m_A2", "delivered"),
    ]


def test_a_messenger_standby_entry_is_ignored():
    payload = {"object": "page", "entry": [{"id": "1", "time": 1, "standby": [{"sender": {"id": "6789"}}]}]}
    result = translate(payload, source=SOURCE)
    assert (result.events, result.ignored) == ([], ["messenger.entry.standby"])


def test_messenger_echoes_and_reads_are_ignored():
    echo = m.social_message(is_echo=True)
    read = {
        "sender": {"id": "678901"},
        "recipient": {"id": "1"},
        "timestamp": 1795428000000,
        "read": {"watermark": 1},
    }
    result = translate(m.messenger(echo, read), source=SOURCE)
    assert result.events == []
    assert result.ignored == ["messenger.message.echo_or_empty", "messenger.read"]


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ([], "$"),
        ({"entry": []}, "$.object"),
        ({"object": "page"}, "$.entry"),
        (
            m.whatsapp(
                m.wa_value(
                    messages=[{"from": "1555", "type": "text", "timestamp": "1", "text": {"body": "x"}}]
                )
            ),
            "$.entry[0].changes[0].value.messages[0].id",
        ),
        (
            m.whatsapp(m.wa_value(messages=[m.wa_message(sender="+1555")])),
            "$.entry[0].changes[0].value.messages[0].from",
        ),
        (
            m.whatsapp(m.wa_value(messages=[m.wa_message(sender="123")])),
            "$.entry[0].changes[0].value.messages[0].from",
        ),
        (
            m.whatsapp(m.wa_value(messages=[m.wa_message(timestamp="soon")])),
            "$.entry[0].changes[0].value.messages[0].timestamp",
        ),
        (
            m.whatsapp(m.wa_value(messages=[m.wa_message(text={"body": 7})])),
            "$.entry[0].changes[0].value.messages[0].text.body",
        ),
        (
            m.whatsapp(
                m.wa_value(
                    messages=[m.wa_message("location", location={"latitude": "north", "longitude": 2})]
                )
            ),
            "$.entry[0].changes[0].value.messages[0].location",
        ),
        (
            m.whatsapp(m.wa_value(statuses=[m.wa_status(recipient=None)])),
            "$.entry[0].changes[0].value.statuses[0].recipient_id",
        ),
        (
            m.messenger({"sender": {}, "timestamp": 1, "message": {"mid": "m", "text": "x"}}),
            "$.entry[0].messaging[0].sender.id",
        ),
        (m.messenger(m.social_message(psid="not a psid!")), "$.entry[0].messaging[0].sender.id"),
        (  # Arabic-Indic digits: `isdigit` is true of them
            m.whatsapp(
                m.wa_value(messages=[m.wa_message(sender="\u0664\u0664\u0667\u0667\u0660\u0660\u0669")])
            ),
            "$.entry[0].changes[0].value.messages[0].from",
        ),
        (
            m.whatsapp(
                m.wa_value(statuses=[m.wa_status(recipient="\u00b2\u00b2\u00b2\u00b2\u00b2\u00b2\u00b2")])
            ),
            "$.entry[0].changes[0].value.statuses[0].recipient_id",
        ),
        (
            m.messenger(
                {
                    "sender": {"id": "678901"},
                    "timestamp": 1795428000000,
                    "reaction": {"mid": "m_AGENT", "action": {"kind": "react"}, "emoji": "x"},
                }
            ),
            "$.entry[0].messaging[0].reaction.action",
        ),
    ],
)
def test_malformed_deliveries_name_where(payload, where):
    with pytest.raises(UnreadablePayload) as exc:
        translate(payload, source=SOURCE)
    assert exc.value.where == where


def test_signature_is_hmac_sha256_of_the_raw_body():
    import hashlib as h
    import hmac

    body = b'{"object":"page"}'
    good = "sha256=" + hmac.new(b"app-secret", body, h.sha256).hexdigest()
    assert signature_valid(body, good, "app-secret")
    assert not signature_valid(body + b" ", good, "app-secret")
    assert not signature_valid(body, good, "other-secret")
    assert not signature_valid(body, good.replace("sha256=", "sha1="), "app-secret")
    assert not signature_valid(body, None, "app-secret")


def test_handshake_echoes_the_challenge_only_for_the_right_token():
    params = {"hub.mode": "subscribe", "hub.verify_token": "v-token", "hub.challenge": "1158201444"}
    assert challenge(params, "v-token") == "1158201444"
    assert challenge({**params, "hub.verify_token": "wrong"}, "v-token") is None
    assert challenge({**params, "hub.mode": "unsubscribe"}, "v-token") is None


@pytest.mark.parametrize(
    ("wa_id", "subject"),
    [
        ("5215512345678", "tel:+525512345678"),  # Mexico: the "1" WhatsApp keeps and numbers lost in 2019
        ("551187654321", "tel:+5511987654321"),  # Brazil: the ninth mobile digit WhatsApp's older ids lack
        ("5511987654321", "tel:+5511987654321"),  # already with it
        ("551132654321", "tel:+551132654321"),  # a Brazilian landline has no ninth digit to add
        ("15551234567", "tel:+15551234567"),
    ],
)
def test_a_whatsapp_id_is_read_as_the_phone_number_behind_it(wa_id, subject):
    message = one(m.whatsapp(m.wa_value(messages=[m.wa_message(sender=wa_id)])))
    status = one(m.whatsapp(m.wa_value(statuses=[m.wa_status(recipient=wa_id)])))

    assert message["subject"] == status["subject"] == subject


@pytest.mark.parametrize(
    "payload",
    [
        lambda text: m.whatsapp(m.wa_value(messages=[m.wa_message(text={"body": text})])),
        lambda text: m.messenger(m.social_message(text=text)),
    ],
    ids=["whatsapp", "messenger"],
)
def test_a_text_over_the_logs_bound_is_cut_and_says_so(payload):
    # As for e-mail: a reader of the log knows the text is not all the customer wrote.
    long = one(payload("word " * 5_000))["data"]
    short = one(payload("word " * 3_000))["data"]

    assert len(long["text"]) <= 20_000 and long["text_truncated"] is True
    assert "text_truncated" not in short


def test_an_empty_or_blank_whatsapp_profile_name_is_no_name():
    """WhatsApp names may be empty: stored as `sender_name: ""` it failed the event's schema and refused the
    whole delivery, every other customer's messages in it too."""
    other = m.wa_message(wamid="wamid.OTHER", sender="15557654321")
    for name in ("", "   "):
        delivery = m.whatsapp(
            m.wa_value(
                messages=[other, m.wa_message()],
                contacts=[m.wa_contact("15557654321", "Bob"), m.wa_contact(name=name)],
            )
        )
        bob, jane = translate(delivery, source=SOURCE).events
        assert bob["data"]["sender_name"] == "Bob"
        assert "sender_name" not in jane["data"]
    padded = one(m.whatsapp(m.wa_value(messages=[m.wa_message()], contacts=[m.wa_contact(name=" Jane ")])))
    assert padded["data"]["sender_name"] == "Jane"


@pytest.mark.parametrize("field", ["caption", "filename", "mime_type"])
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_optional_media_field_is_as_if_absent(field, value):
    message = m.wa_message("document")
    message["document"][field] = value
    data = one(m.whatsapp(m.wa_value(messages=[message])))["data"]
    (attachment,) = data["attachments"]
    assert attachment["media_id"] == message["document"]["id"]
    assert value not in (attachment.get("name"), attachment.get("content_type"), data["text"] or None)


def test_an_empty_messenger_text_beside_an_attachment_is_no_text():
    attachments = [{"type": "image", "payload": {}}]
    data = one(m.messenger(m.social_message(text="", attachments=attachments)))["data"]
    assert data["attachments"] == [{"name": "image"}]
    assert data == one(m.messenger(m.social_message(text=None, attachments=attachments)))["data"]


def test_an_empty_reply_reference_is_no_reference():
    """An empty WhatsApp `context.id` or Messenger `reply_to.mid` refused the whole delivery (400)."""
    whatsapp = m.wa_message()
    whatsapp["context"] = {"from": "15550001111", "id": ""}
    assert "in_reply_to" not in one(m.whatsapp(m.wa_value(messages=[whatsapp])))["data"]
    messenger = one(m.messenger(m.social_message(reply_to={"mid": " "}, quick_reply={"payload": ""})))
    assert "in_reply_to" not in messenger["data"] and "reply" not in messenger["data"]
