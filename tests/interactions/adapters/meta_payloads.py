"""Meta webhook deliveries, written for these tests after Meta's documented formats (WhatsApp Cloud API
`messages` field; Messenger and Instagram `messaging` events)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

PHONE_NUMBER_ID = "106540352242922"
IMAGE_SHA256 = hashlib.sha256(b"an image").digest()


def whatsapp(*values: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [{"field": field, "value": value} for value in values],
            }
        ],
    }


def wa_value(messages=(), statuses=(), contacts=()) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
    }
    if contacts:
        value["contacts"] = list(contacts)
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return value


def wa_contact(wa_id: str = "15551234567", name: str = "Jane Doe") -> dict[str, Any]:
    return {"profile": {"name": name}, "wa_id": wa_id}


def wa_message(
    kind: str = "text",
    wamid: str = "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQTdGRUQ=",
    sender: str = "15551234567",
    **content,
) -> dict[str, Any]:
    message: dict[str, Any] = {"from": sender, "id": wamid, "timestamp": "1795428000", "type": kind}
    defaults = {
        "text": {"body": "Hi, is my order shipped?"},
        "image": {
            "caption": "the broken part",
            "mime_type": "image/jpeg",
            "sha256": base64.b64encode(IMAGE_SHA256).decode(),
            "id": "1479537139650973",
        },
        "document": {
            "filename": "receipt.pdf",
            "mime_type": "application/pdf",
            "sha256": base64.b64encode(IMAGE_SHA256).decode(),
            "id": "1479537139650974",
        },
        "location": {"latitude": 48.8566, "longitude": 2.3522, "name": "Shop", "address": "1 Rue X, Paris"},
        "interactive": {"type": "button_reply", "button_reply": {"id": "yes-ship", "title": "Yes, ship it"}},
        "reaction": {"message_id": "wamid.AGENT1", "emoji": "\U0001f44d"},
        "contacts": [{"name": {"formatted_name": "Bob"}}],
    }
    if kind in defaults:
        message[kind] = content.pop(kind, defaults[kind])
    message.update(content)
    return message


def wa_status(
    status: str = "delivered", wamid: str = "wamid.AGENT1", recipient: str = "15551234567", **extra
) -> dict[str, Any]:
    return {"id": wamid, "status": status, "timestamp": "1795428060", "recipient_id": recipient, **extra}


def messenger(*items: dict[str, Any], kind: str = "page") -> dict[str, Any]:
    return {"object": kind, "entry": [{"id": "1234567890", "time": 1795428000000, "messaging": list(items)}]}


def social_message(
    psid: str = "6789012345678901",
    mid: str = "m_AbCdEf",
    text: str | None = "Hello from Messenger",
    **message,
) -> dict[str, Any]:
    body: dict[str, Any] = {"mid": mid, **message}
    if text is not None:
        body["text"] = text
    return {
        "sender": {"id": psid},
        "recipient": {"id": "1234567890"},
        "timestamp": 1795428000000,
        "message": body,
    }
