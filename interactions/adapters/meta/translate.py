"""One Meta webhook delivery (WhatsApp Cloud API, Messenger, Instagram) as the hub's CloudEvents.

A delivery is `{"object": ..., "entry": [...]}`; each entry carries WhatsApp `changes` or Messenger and
Instagram `messaging` items, each of which may hold several messages and statuses for several customers.
Everything the hub uses becomes one event; everything else (other webhook fields, message kinds the hub
does not record, echoes of the page's own messages) is counted and left out. The translation is all or
nothing: one malformed item makes the whole delivery malformed, so nothing of it is written.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
from datetime import UTC, datetime
from typing import Any

from interactions.adapters.hooks import Translation
from interactions.catalogue.schemas import SHORT_MAX, TEXT_MAX
from interactions.errors import InvalidIdentifier
from interactions.identity.identifiers import parse_identifier, whatsapp_number, whatsapp_older_form
from interactions.privacy.redaction import cut

OBJECTS = {"whatsapp_business_account": "whatsapp", "page": "messenger", "instagram": "instagram"}
WHATSAPP_STATUSES = {"sent", "delivered", "read", "failed"}
WHATSAPP_MEDIA = ("image", "video", "audio", "document", "sticker")
# Timestamps outside this range are not a message's time (the log keeps 1970 to 2199).
_MIN_TS, _MAX_TS = 0, 7_258_118_399


class UnreadablePayload(ValueError):
    """The delivery is not what Meta documents: the hub cannot tell what it says. `where` is a JSON path."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def _key(value: str) -> str:
    # Event ids from the provider's ids, hashed: Messenger's mids hold 13-digit timestamps and some pass the
    # Luhn check, and an id that holds a card number is refused (it could not be masked). Base32 has no
    # separator and almost never 13 digits in a row.
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
    return base64.b32encode(digest).decode().lower().rstrip("=")


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnreadablePayload(where, "expected an object")
    return value


def _list(value: Any, where: str, *, required: bool = False) -> list[Any]:
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise UnreadablePayload(where, "expected an array")
    return value


def _str(value: Any, where: str, *, required: bool = True, limit: int = SHORT_MAX) -> str | None:
    # Meta sends some optional fields empty (a caption, a file name, a Messenger text beside attachments):
    # as if absent. Refused, one such field refused the whole delivery, every other customer's messages in
    # it too, and Meta sent it again for days.
    if not required and (value is None or (isinstance(value, str) and not value.strip())):
        return None
    if not isinstance(value, str) or not value.strip():
        raise UnreadablePayload(where, "expected a non-empty string")
    if len(value.encode("utf-8", "surrogatepass")) > limit:
        raise UnreadablePayload(where, f"at most {limit} bytes")
    return value


def _filled(value: Any) -> bool:
    """A string with more than white space in it: an optional field Meta sends empty is absent."""
    return isinstance(value, str) and bool(value.strip())


def _wa_id(value: Any, where: str) -> str:
    """A WhatsApp id: the number's ASCII digits (`isdigit` is true of `²` and of Arabic-Indic digits)."""
    wa_id = _str(value, where, limit=32)
    if not (wa_id.isascii() and wa_id.isdigit()):
        raise UnreadablePayload(where, "a WhatsApp id is the number's digits")
    return wa_id


def _time(value: Any, where: str, *, millis: bool = False) -> str:
    # ASCII digits only, and few of them: `isdigit` is true of superscripts and of Arabic-Indic digits,
    # and int() refuses a string of over 4,300 digits. A timestamp in range has at most 13.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise UnreadablePayload(where, "expected a Unix timestamp")
    # Compared as integers: a JSON integer of 400 digits overflows a float division.
    low, high = (_MIN_TS * 1000, _MAX_TS * 1000 + 999) if millis else (_MIN_TS, _MAX_TS)
    if not low <= value <= high:
        raise UnreadablePayload(where, "the timestamp is out of range")
    return datetime.fromtimestamp(value / 1000 if millis else value, UTC).isoformat()


def _identifier(uri: str, where: str) -> str:
    try:
        return parse_identifier(uri).uri
    except InvalidIdentifier as exc:
        raise UnreadablePayload(where, str(exc)) from exc


def _sha256_hex(value: Any) -> str | None:
    """Meta gives a media file's SHA-256 in base64; the catalogue records it in hex."""
    if not isinstance(value, str):
        return None
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return value.lower()
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == 32 else None


def _event(source: str, key: str, kind: str, subject: str, time: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": _key(key),
        "source": source,
        "type": kind,
        "subject": subject,
        "time": time,
        "data": data,
    }


# --- WhatsApp Cloud API ----------------------------------------------------------------------------


def _whatsapp_content(message: dict[str, Any], kind: str, where: str) -> dict[str, Any] | None:
    """The data fields of one WhatsApp message by its type; None for a type the hub does not record."""
    body = message.get(kind)
    if kind == "text":
        return {
            "text": _str(_obj(body, f"{where}.text").get("body"), f"{where}.text.body", limit=4 * TEXT_MAX)
        }
    if kind in WHATSAPP_MEDIA:
        media = _obj(body, f"{where}.{kind}")
        media_id = _str(media.get("id"), f"{where}.{kind}.id", limit=256)
        # A document's name is cut to what the catalogue keeps (255), as Twilio's media names are: over it,
        # the whole delivery, every other message in it included, was refused with a 400 at each retry.
        name = _str(media.get("filename"), f"{where}.{kind}.filename", required=False, limit=1024)
        attachment: dict[str, Any] = {
            "name": cut(name, 255) if name else kind,
            "media_id": media_id,
        }
        mime = _str(media.get("mime_type"), f"{where}.{kind}.mime_type", required=False, limit=255)
        if mime:
            attachment["content_type"] = mime
        if sha := _sha256_hex(media.get("sha256")):
            attachment["sha256"] = sha
        caption = _str(media.get("caption"), f"{where}.{kind}.caption", required=False, limit=4 * TEXT_MAX)
        return {"text": caption or "", "attachments": [attachment], "content": kind}
    if kind == "location":
        location = _obj(body, f"{where}.location")
        lat, lon = location.get("latitude"), location.get("longitude")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
            raise UnreadablePayload(f"{where}.location", "latitude and longitude are numbers")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise UnreadablePayload(f"{where}.location", "latitude or longitude out of range")
        place = {k: location[k] for k in ("name", "address", "url") if isinstance(location.get(k), str)}
        label = ", ".join(v for v in (place.get("name"), place.get("address")) if v)
        return {
            "text": label or f"{lat}, {lon}",
            "location": {"latitude": lat, "longitude": lon, **place},
            "content": "location",
        }
    if kind == "interactive":
        interactive = _obj(body, f"{where}.interactive")
        reply_kind = interactive.get("type")
        if reply_kind not in ("button_reply", "list_reply"):
            return None
        reply = _obj(interactive.get(reply_kind), f"{where}.interactive.{reply_kind}")
        title = _str(reply.get("title"), f"{where}.interactive.{reply_kind}.title", limit=4 * TEXT_MAX)
        data = {
            "text": title,
            "reply": {
                "kind": "button" if reply_kind == "button_reply" else "list",
                "id": _str(reply.get("id"), f"{where}.interactive.{reply_kind}.id", limit=1024),
                "title": title,
            },
            "content": reply_kind,
        }
        if isinstance(reply.get("description"), str):
            data["reply"]["description"] = reply["description"]
        return data
    if kind == "button":  # a quick-reply button of a template message
        button = _obj(body, f"{where}.button")
        text = _str(button.get("text"), f"{where}.button.text", limit=4 * TEXT_MAX)
        payload = _str(button.get("payload"), f"{where}.button.payload", required=False, limit=1024)
        return {
            "text": text,
            "reply": {"kind": "button", "id": payload or text, "title": text},
            "content": "button_reply",
        }
    if kind == "reaction":
        reaction = _obj(body, f"{where}.reaction")
        target = _str(reaction.get("message_id"), f"{where}.reaction.message_id", limit=SHORT_MAX)
        emoji = reaction.get("emoji")  # absent when a reaction is removed
        if emoji is not None and not isinstance(emoji, str):
            raise UnreadablePayload(f"{where}.reaction.emoji", "expected a string")
        return {
            "text": emoji or "",
            "reaction": {"message_ref": target, "emoji": emoji or None},
            "in_reply_to": target,
            "content": "reaction",
        }
    return None


def _whatsapp_value(value: dict[str, Any], source: str, where: str, out: Translation) -> None:
    # Errors Meta reports about the number itself (not about one message): acknowledged and counted.
    out.ignored += ["whatsapp.value.error" for _ in _list(value.get("errors"), f"{where}.errors")]
    names: dict[str, str] = {}
    for i, contact in enumerate(_list(value.get("contacts"), f"{where}.contacts")):
        contact = _obj(contact, f"{where}.contacts[{i}]")
        profile = contact.get("profile") if isinstance(contact.get("profile"), dict) else {}
        name = profile.get("name")
        # A WhatsApp profile name may be empty or blank: then there is none to store (as from Twilio).
        if isinstance(contact.get("wa_id"), str) and isinstance(name, str) and name.strip():
            names[contact["wa_id"]] = name.strip()
    for i, message in enumerate(_list(value.get("messages"), f"{where}.messages")):
        at = f"{where}.messages[{i}]"
        message = _obj(message, at)
        wamid = _str(message.get("id"), f"{at}.id")
        sender = _wa_id(message.get("from"), f"{at}.from")
        kind = _str(message.get("type"), f"{at}.type", limit=64)
        content = _whatsapp_content(message, kind, at)
        if content is None:
            out.ignored.append(f"whatsapp.message.{kind}")
            continue
        text = content.pop("text")
        data: dict[str, Any] = {
            "channel": "whatsapp",
            "direction": "inbound",
            "text": cut(text, TEXT_MAX),
            "message_ref": wamid,
            **content,
        }
        if len(text) > TEXT_MAX:
            data["text_truncated"] = True  # as for e-mail: the text was cut, not what the customer wrote
        context = message.get("context")
        # An empty id names no message (as any empty optional field: absent).
        if isinstance(context, dict) and _filled(context.get("id")) and "in_reply_to" not in data:
            data["in_reply_to"] = _str(context["id"], f"{at}.context.id")
        if sender in names:
            data["sender_name"] = cut(names[sender], 128)
        subject = _identifier(f"tel:+{whatsapp_number(sender)}", f"{at}.from")
        if older := whatsapp_older_form(sender):
            with contextlib.suppress(UnreadablePayload):
                data["identifiers"] = [_identifier(older, f"{at}.from")]
        time = _time(message.get("timestamp"), f"{at}.timestamp")
        out.events.append(_event(source, f"wa/{wamid}", "message.received", subject, time, data))
    for i, status in enumerate(_list(value.get("statuses"), f"{where}.statuses")):
        at = f"{where}.statuses[{i}]"
        status = _obj(status, at)
        wamid = _str(status.get("id"), f"{at}.id")
        state = _str(status.get("status"), f"{at}.status", limit=64)
        if state not in WHATSAPP_STATUSES:
            out.ignored.append(f"whatsapp.status.{state}")
            continue
        recipient = _wa_id(status.get("recipient_id"), f"{at}.recipient_id")
        data = {"channel": "whatsapp", "message_ref": wamid, "status": state}
        errors = _list(status.get("errors"), f"{at}.errors")
        if errors and isinstance(errors[0], dict):
            first = errors[0]
            if isinstance(first.get("code"), int | str) and not isinstance(first.get("code"), bool):
                data["error_code"] = cut(str(first["code"]), 64)
            message = first.get("message") or first.get("title")
            details = (
                (first.get("error_data") or {}).get("details")
                if isinstance(first.get("error_data"), dict)
                else None
            )
            text = " - ".join(str(x) for x in (message, details) if isinstance(x, str) and x)
            if text:
                data["error_message"] = cut(text, 1024)
        subject = _identifier(f"tel:+{whatsapp_number(recipient)}", f"{at}.recipient_id")
        if older := whatsapp_older_form(recipient):  # as for a message: linked, not a second customer
            with contextlib.suppress(UnreadablePayload):
                data["identifiers"] = [_identifier(older, f"{at}.recipient_id")]
        time = _time(status.get("timestamp"), f"{at}.timestamp")
        out.events.append(_event(source, f"wa-status/{wamid}/{state}", "message.status", subject, time, data))


def _whatsapp_entry(entry: dict[str, Any], source: str, where: str, out: Translation) -> None:
    for i, change in enumerate(_list(entry.get("changes"), f"{where}.changes", required=True)):
        at = f"{where}.changes[{i}]"
        change = _obj(change, at)
        if change.get("field") != "messages":
            out.ignored.append(f"whatsapp.field.{change.get('field')}")
            continue
        _whatsapp_value(_obj(change.get("value"), f"{at}.value"), source, f"{at}.value", out)


# --- Messenger and Instagram -----------------------------------------------------------------------


def _social_message(item: dict[str, Any], platform: str, at: str) -> dict[str, Any] | None:
    message = _obj(item["message"], f"{at}.message")
    if message.get("is_echo"):
        return None  # the page's own message, echoed back: the hub records it where it was sent
    mid = _str(message.get("mid"), f"{at}.message.mid")
    text = _str(message.get("text"), f"{at}.message.text", required=False, limit=4 * TEXT_MAX) or ""
    data: dict[str, Any] = {"channel": "social", "direction": "inbound", "message_ref": mid}
    attachments = []
    for j, attachment in enumerate(_list(message.get("attachments"), f"{at}.message.attachments")):
        attachment = _obj(attachment, f"{at}.message.attachments[{j}]")
        kind = _str(attachment.get("type"), f"{at}.message.attachments[{j}].type", limit=64)
        # Metadata only: the payload's URL is a signed, expiring link to the content itself.
        attachments.append({"name": kind})
    if attachments:
        data["attachments"] = attachments[:50]
    quick_reply = message.get("quick_reply")
    if isinstance(quick_reply, dict) and _filled(quick_reply.get("payload")):
        data["reply"] = {"kind": "quick_reply", "id": cut(quick_reply["payload"], 1024), "title": text}
    reply_to = message.get("reply_to")
    if isinstance(reply_to, dict) and _filled(reply_to.get("mid")):
        data["in_reply_to"] = _str(reply_to["mid"], f"{at}.message.reply_to.mid")
    if not text and not attachments:
        return None  # a kind of message the hub does not record (a story mention's share, say)
    data["text"] = cut(text, TEXT_MAX)
    if len(text) > TEXT_MAX:
        data["text_truncated"] = True
    return data


def _social_entry(entry: dict[str, Any], platform: str, source: str, where: str, out: Translation) -> None:
    if "changes" in entry and "messaging" not in entry:
        for change in _list(entry.get("changes"), f"{where}.changes"):
            field_name = change.get("field") if isinstance(change, dict) else None
            out.ignored.append(f"{platform}.field.{field_name}")
        return
    # Another documented list (`standby`, for a page whose conversation another app handles): not ours,
    # counted, beside `messaging` too.
    others = [k for k in entry if k not in ("id", "time", "messaging", "changes")]
    out.ignored += [f"{platform}.entry.{kind}" for kind in others]
    if "messaging" not in entry:
        if not others:
            out.ignored.append(f"{platform}.entry.empty")
        return
    for i, item in enumerate(_list(entry.get("messaging"), f"{where}.messaging", required=True)):
        at = f"{where}.messaging[{i}]"
        item = _obj(item, at)
        sender = _obj(item.get("sender"), f"{at}.sender")
        sender_id = _str(sender.get("id"), f"{at}.sender.id", limit=64)
        time = _time(item.get("timestamp"), f"{at}.timestamp", millis=True)
        if "message" in item:
            data = _social_message(item, platform, at)
            if data is None:
                out.ignored.append(f"{platform}.message.echo_or_empty")
                continue
            subject = _identifier(f"social:{platform}:{sender_id}", f"{at}.sender.id")
            key = f"{platform}/{data['message_ref']}"
            out.events.append(_event(source, key, "message.received", subject, time, data))
        elif "reaction" in item:
            reaction = _obj(item["reaction"], f"{at}.reaction")
            target = _str(reaction.get("mid"), f"{at}.reaction.mid")
            # Meta documents `react` and `unreact`; any other string is kept, cut to 32 characters; missing
            # or empty is `react`. Not a string refuses the delivery (it was stored as its Python repr).
            action = reaction.get("action")
            if action is not None and not isinstance(action, str):
                raise UnreadablePayload(f"{at}.reaction.action", "expected a string")
            action = cut((action or "").strip(), 32) or "react"
            emoji = reaction.get("emoji") if action == "react" else None
            data = {
                "channel": "social",
                "direction": "inbound",
                "text": emoji if isinstance(emoji, str) else "",
                "reaction": {
                    "message_ref": target,
                    "emoji": emoji if isinstance(emoji, str) else None,
                    "action": action,
                },
                "in_reply_to": target,
                "content": "reaction",
            }
            subject = _identifier(f"social:{platform}:{sender_id}", f"{at}.sender.id")
            key = f"{platform}-reaction/{target}/{sender_id}/{action}/{item.get('timestamp')}"
            out.events.append(_event(source, key, "message.received", subject, time, data))
        elif "postback" in item:
            postback = _obj(item["postback"], f"{at}.postback")
            title = _str(postback.get("title"), f"{at}.postback.title", limit=4 * TEXT_MAX)
            payload = _str(postback.get("payload"), f"{at}.postback.payload", required=False, limit=1024)
            mid = _str(postback.get("mid"), f"{at}.postback.mid", required=False)
            data = {
                "channel": "social",
                "direction": "inbound",
                "text": cut(title, TEXT_MAX),
                "reply": {"kind": "button", "id": payload or title, "title": title},
                "content": "button_reply",
            }
            if len(title) > TEXT_MAX:
                data["text_truncated"] = True
            if mid:
                data["message_ref"] = mid
            subject = _identifier(f"social:{platform}:{sender_id}", f"{at}.sender.id")
            key = f"{platform}-postback/{mid or (sender_id, item.get('timestamp'), payload)}"
            out.events.append(_event(source, key, "message.received", subject, time, data))
        elif "delivery" in item:
            delivery = _obj(item["delivery"], f"{at}.delivery")
            mids = _list(delivery.get("mids"), f"{at}.delivery.mids")
            if not mids:
                out.ignored.append(f"{platform}.delivery.watermark")
                continue
            subject = _identifier(f"social:{platform}:{sender_id}", f"{at}.sender.id")
            for j, mid in enumerate(mids):
                mid = _str(mid, f"{at}.delivery.mids[{j}]")
                data = {"channel": "social", "message_ref": mid, "status": "delivered"}
                out.events.append(
                    _event(
                        source, f"{platform}-status/{mid}/delivered", "message.status", subject, time, data
                    )
                )
        else:
            kind = next((k for k in item if k not in ("sender", "recipient", "timestamp")), "unknown")
            out.ignored.append(f"{platform}.{kind}")  # read watermarks, referrals, opt-ins, ...


def translate(payload: Any, *, source: str) -> Translation:
    """Every event one delivery carries, in its order, and what it carried that the hub does not use.

    Raises UnreadablePayload naming the first thing that is not as Meta documents it.
    """
    payload = _obj(payload, "$")
    kind = payload.get("object")
    if not isinstance(kind, str):
        raise UnreadablePayload("$.object", "expected the kind of delivery")
    out = Translation()
    platform = OBJECTS.get(kind)
    entries = _list(payload.get("entry"), "$.entry", required=True)
    if platform is None:
        out.ignored.append(f"object.{kind}")
        return out
    for i, entry in enumerate(entries):
        where = f"$.entry[{i}]"
        entry = _obj(entry, where)
        if platform == "whatsapp":
            _whatsapp_entry(entry, source, where, out)
        else:
            _social_entry(entry, platform, source, where, out)
    return out
