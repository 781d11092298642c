"""Twilio's webhook parameters translated into CloudEvents: inbound messages, message statuses, call statuses,
recordings and transcriptions.

Each translator takes the verified form parameters and returns a Translation (the events to append, the
kinds it acknowledges without storing) or raises MalformedDelivery naming every bad parameter. Event ids are
Twilio's own SIDs (plus the status a callback reports), under the connection's source, so a retry is the
same event however late it comes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from interactions.adapters.hooks import MalformedDelivery, Translation
from interactions.identity.identifiers import whatsapp_number, whatsapp_older_form
from interactions.privacy.redaction import cut

# A Twilio SID: two upper-case letters for its kind (SM/MM messages, CA calls, RE recordings, TR
# transcriptions) and 32 hexadecimal digits.
_SID = re.compile(r"\A[A-Z]{2}[0-9a-fA-F]{32}\Z")
_PHONE = re.compile(r"\A\+?[0-9]{3,20}\Z")
_SHORT_CODE = re.compile(r"\A[0-9]{3,8}\Z")  # no "+": Twilio writes every long number in E.164
_ALPHANUMERIC_SENDER = re.compile(r"\A(?=[0-9 ]*[A-Za-z])[A-Za-z0-9 ]{1,11}\Z")
_DIGITS = re.compile(r"\A[0-9]{1,9}\Z")
MAX_MEDIA = 10  # Twilio delivers at most 10 media items with a message
NAME_MAX = 128

# Twilio's message statuses the catalogue records (MessageStatusData) and the ones it only acknowledges.
STATUSES_RECORDED = frozenset({"queued", "sent", "delivered", "undelivered", "failed", "read"})
STATUSES_IGNORED = frozenset(
    {
        "accepted", "scheduled", "sending", "receiving", "received", "canceled", "delivery_unknown",
        "partially_delivered",
    }
)  # fmt: skip
# Call statuses: which become call.started, which end the call (with that disposition), which are ignored.
CALL_STARTED = frozenset({"in-progress", "answered"})
CALL_ENDED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
CALL_IGNORED = frozenset({"queued", "initiated", "ringing"})
DIRECTIONS = {
    "inbound": "inbound",
    "outbound-api": "outbound",
    "outbound-dial": "outbound",
    "trunking-originating": "outbound",
    "trunking-terminating": "inbound",
}
# What Twilio puts in From for a caller who withheld their number (or whose number is unknown): no
# customer to place the call with, so such calls are acknowledged and counted.
ANONYMOUS = frozenset(
    {"anonymous", "Anonymous", "+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253"}
)
RECORDING_STATUSES = frozenset({"completed", "absent", "failed"})
TRANSCRIPTION_STATUSES = frozenset({"completed", "failed"})


class _Params:
    """The form parameters, read one by one; every problem is collected, then raised together."""

    def __init__(self, params: list[tuple[str, list[str]]]) -> None:
        self.values = dict(params)
        self.errors: list[dict[str, str]] = []

    def get(self, name: str, *, required: bool = True, limit: int = 1600, pattern: re.Pattern | None = None):
        values = self.values.get(name)
        if not values or (required and not values[0].strip()):
            if required:
                self.errors.append({"field": name, "message": f"the parameter {name} is required"})
            return None
        if len(values) > 1:
            self.errors.append({"field": name, "message": f"{name} was sent more than once"})
            return None
        value = values[0]
        if not required and not value:
            return None  # Twilio sends some parameters empty (ErrorCode, ProfileName): as if absent
        if len(value) > limit:
            self.errors.append({"field": name, "message": f"{name} is over {limit} characters"})
            return None
        if pattern is not None and not pattern.match(value):
            self.errors.append({"field": name, "message": f"{name} is not in Twilio's format"})
            return None
        return value

    def integer(self, name: str, *, required: bool = False, most: int = 7 * 24 * 3600) -> int | None:
        value = self.get(name, required=required, limit=9, pattern=_DIGITS)
        if value is None:
            return None
        if int(value) > most:
            self.errors.append({"field": name, "message": f"{name} is over {most}"})
            return None
        return int(value)

    def check(self) -> None:
        if self.errors:
            raise MalformedDelivery("the delivery is not one Twilio sends", self.errors)


def _address(value: str | None, field: str, params: _Params) -> tuple[str | None, str | None, str | None]:
    """(identifier URI, channel, ignored kind) of a Twilio address: `+15551234567` is SMS, `whatsapp:+1...`
    WhatsApp, both as the customer's `tel:` number (so they are one customer); other channel prefixes
    (messenger:, rcs:, ...) are acknowledged as kinds the hub does not use."""
    if value is None:
        return None, None, None
    prefix, _, number = value.rpartition(":")
    scheme = value.partition(":")[0].lower() if ":" in value else ""
    if scheme and scheme != "whatsapp" and re.fullmatch(r"[a-z]{1,20}", scheme):
        # Another channel's address (sip:, client:, messenger:, ...), read by its scheme, case aside: a SIP
        # address with a port (`sip:+1555...@10.0.0.1:5060`) or written `SIP:` was refused (400), and the
        # call never recorded, where any other channel's is acknowledged and counted.
        return None, None, f"channel.{scheme}"
    if prefix and prefix != "whatsapp":
        params.errors.append({"field": field, "message": f"{field} is not a phone number"})
        return None, None, None
    if not prefix and _ALPHANUMERIC_SENDER.match(number):
        # An alphanumeric sender ID (`Vodafone`, `MyBank`: up to 11 letters, digits and spaces, a letter
        # among them), a business's or a carrier's as a short code is: acknowledged and counted, not a 400.
        return None, None, "alphanumeric_sender"
    if not _PHONE.match(number):
        params.errors.append({"field": field, "message": f"{field} is not a phone number"})
        return None, None, None
    if not prefix and _SHORT_CODE.match(number):
        # A short code (a business's, a carrier's: alerts, one-time codes): no customer writes from one, and
        # it is no number to call back. Acknowledged and counted; a 400 made Twilio report an error.
        return None, None, "short_code"
    if prefix:  # WhatsApp's ids, as Twilio passes them on: see whatsapp_number
        return f"tel:+{whatsapp_number(number.lstrip('+'))}", "whatsapp", None
    return f"tel:{number}", "sms", None


def _event(
    source: str, event_id: str, kind: str, subject: str, data: dict[str, Any], time: str | None = None
):
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": kind,
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }
    if time is not None:
        event["time"] = time
    return event


def _media_name(url: str, index: int) -> str:
    # The media's SID, the last segment of its URL; the media itself is never fetched.
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return cut(last, 255) if last else f"media-{index}"


def _location(params: _Params) -> dict[str, Any] | None:
    """A shared location's `Latitude` and `Longitude` (both or neither, numbers in range), with its
    `Label` as the place's name and its `Address`, as `data.location` holds one from Meta."""
    latitude = params.get("Latitude", required=False, limit=32)
    longitude = params.get("Longitude", required=False, limit=32)
    label = params.get("Label", required=False, limit=1024)
    address = params.get("Address", required=False, limit=1024)
    if latitude is None and longitude is None:
        return None
    try:
        lat, lon = float(latitude or ""), float(longitude or "")
    except ValueError:
        lat = lon = float("nan")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # NaN and inf fail too
        params.errors.append(
            {"field": "Latitude", "message": "Latitude and Longitude are numbers in range, sent together"}
        )
        return None
    place = {k: cut(v.strip(), 1024) for k, v in (("name", label), ("address", address)) if v and v.strip()}
    return {"latitude": lat, "longitude": lon, **place}


def message_received(raw: list[tuple[str, list[str]]], *, source: str) -> Translation:
    """An inbound SMS, MMS or WhatsApp message ("A message comes in") -> message.received."""
    params = _Params(raw)
    sid = params.get("MessageSid", pattern=_SID)
    sender = params.get("From", limit=64)
    subject, channel, ignored = _address(sender, "From", params)
    to = params.get("To", limit=64)
    body = params.get("Body", required=False, limit=20_000) or ""
    count = params.integer("NumMedia", most=MAX_MEDIA) or 0
    attachments = []
    for n in range(count):
        url = params.get(f"MediaUrl{n}", limit=2048)
        content_type = params.get(f"MediaContentType{n}", required=False, limit=255)
        if url is not None:
            item = {"name": _media_name(url, n), "url": url}
            if content_type:
                item["content_type"] = content_type
            attachments.append(item)
    profile_name = params.get("ProfileName", required=False, limit=1024)
    opt_out = params.get("OptOutType", required=False, limit=32)
    location = _location(params)
    params.check()
    if ignored:
        return Translation(ignored=[f"messaging.{ignored}"])
    data: dict[str, Any] = {
        "channel": channel,
        "direction": "inbound",
        "text": body,
        "message_ref": sid,
        "to_number": to,
    }
    if attachments:
        data["attachments"] = attachments
    if location:
        # A shared location (WhatsApp) comes with no Body: its place, else its coordinates, is the text, as
        # for one shared through Meta.
        data["location"] = location
        data["content"] = "location"
        place = ", ".join(v for v in (location.get("name"), location.get("address")) if v)
        data["text"] = body or place or f"{location['latitude']}, {location['longitude']}"
    if channel == "whatsapp" and (older := whatsapp_older_form(sender.rpartition(":")[2].lstrip("+"))):
        data["identifiers"] = [older]  # the customer an older Brazilian id made: linked, not split off
    if profile_name and profile_name.strip():
        data["sender_name"] = cut(profile_name.strip(), NAME_MAX)
    if opt_out:  # Twilio's Advanced Opt-Out recognised a keyword: STOP, START or HELP
        data["opt_out_type"] = opt_out.lower()
    return Translation(events=[_event(source, sid, "message.received", subject, data)])


def message_status(raw: list[tuple[str, list[str]]], *, source: str) -> Translation:
    """A status callback of a message sent to the customer -> message.status, about that message."""
    params = _Params(raw)
    sid = params.get("MessageSid", pattern=_SID)
    status = params.get("MessageStatus", required="SmsStatus" not in params.values, limit=64) or params.get(
        "SmsStatus", required=False, limit=64
    )
    # The customer is the one the message went to.
    subject, channel, ignored = _address(params.get("To", limit=64), "To", params)
    error_code = params.get("ErrorCode", required=False, limit=64)
    error_message = params.get("ErrorMessage", required=False, limit=1024)
    params.check()
    if status not in STATUSES_RECORDED:
        kind = status if status in STATUSES_IGNORED else "other"
        return Translation(ignored=[f"message-status.{kind}"])
    if ignored:
        return Translation(ignored=[f"message-status.{ignored}"])
    data: dict[str, Any] = {"channel": channel, "message_ref": sid, "status": status}
    recipient = (params.get("To", limit=64) or "").rpartition(":")[2].lstrip("+")
    if channel == "whatsapp" and (older := whatsapp_older_form(recipient)):
        data["identifiers"] = [older]  # as for a message: an older Brazilian id's customer is linked
    if error_code:
        data["error_code"] = error_code
    if error_message:
        data["error_message"] = error_message
    return Translation(events=[_event(source, f"{sid}/{status}", "message.status", subject, data)])


def _timestamp(params: _Params) -> str | None:
    """Twilio's `Timestamp` of a call event (RFC 2822), as RFC 3339; None when absent."""
    value = params.get("Timestamp", required=False, limit=64)
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # a year of 20 digits overflowed: a 500
        moment = None
    if moment is None or moment.tzinfo is None:
        params.errors.append({"field": "Timestamp", "message": "Timestamp is not an RFC 2822 date"})
        return None
    try:
        return moment.astimezone(UTC).isoformat()
    except OverflowError:  # 9999-12-31 23:30 -0100 is past the last datetime once in UTC
        params.errors.append({"field": "Timestamp", "message": "Timestamp is out of range"})
        return None


def _call(params: _Params) -> tuple[str | None, str | None, dict[str, Any], str | None]:
    """(CallSid, the customer's identifier, the call's data, an ignored kind) of a call's parameters."""
    sid = params.get("CallSid", pattern=_SID)
    direction_raw = params.get("Direction", limit=32)
    direction = DIRECTIONS.get(direction_raw or "")
    if direction_raw is not None and direction is None:
        params.errors.append({"field": "Direction", "message": "Direction is not one Twilio sends"})
    from_number = params.get("From", limit=64)
    to_number = params.get("To", limit=64)
    customer_field = "To" if direction == "outbound" else "From"
    customer = to_number if direction == "outbound" else from_number
    if customer in ANONYMOUS:
        subject, ignored = None, "anonymous-caller"
    else:
        subject, _, ignored = _address(customer, customer_field, params)
    data = {
        "channel": "voice",
        "direction": direction,
        "from_number": from_number,
        "to_number": to_number,
        "conversation_ref": sid,
    }
    return sid, subject, data, ignored


def call_status(raw: list[tuple[str, list[str]]], *, source: str) -> Translation:
    """A call status callback -> call.started (answered) or call.ended (with duration and disposition).

    A `completed` callback carries call.started as well: Twilio sends only `completed` unless more events
    are asked for, and the two ids are the call's own, so one already recorded is not written again."""
    params = _Params(raw)
    status = params.get("CallStatus", limit=32)
    sid, subject, data, ignored = _call(params)
    duration = params.integer("CallDuration")
    time = _timestamp(params)
    if status is not None and status not in CALL_STARTED | CALL_ENDED | CALL_IGNORED:
        params.errors.append({"field": "CallStatus", "message": "CallStatus is not one Twilio sends"})
    params.check()
    if status in CALL_IGNORED:
        return Translation(ignored=[f"voice.{status}"])
    if ignored:
        return Translation(ignored=[f"voice.{ignored}"])
    if status in CALL_STARTED:
        return Translation(events=[_event(source, f"{sid}/started", "call.started", subject, data, time)])
    # The start a `completed` callback carries is its Timestamp less the call's duration: stamped with the
    # end, it took the place of the real start, which came later and was a duplicate by then.
    began = time
    if time is not None and duration:
        began = (datetime.fromisoformat(time) - timedelta(seconds=duration)).isoformat()
    started = _event(source, f"{sid}/started", "call.started", subject, data, began)
    ended_data = {**data, "duration_seconds": duration or 0, "disposition": status}
    ended = _event(source, f"{sid}/ended", "call.ended", subject, ended_data, time)
    return Translation(events=[started, ended] if status == "completed" else [ended])


def _call_subject(
    params: _Params, call_sid: str | None, find: Callable[[str], str | None]
) -> tuple[str | None, str | None]:
    """The customer of the call a recording or transcription is of: from its From/To when Twilio sends
    them, else from the call the hub recorded. (subject, ignored kind)."""
    if params.values.get("From") and params.values.get("Direction"):
        _, subject, _, ignored = _call(params)
        return subject, ignored
    if call_sid is None:
        return None, None
    subject = find(call_sid)
    return subject, None if subject else "unknown-call"


def recording(
    raw: list[tuple[str, list[str]]], *, source: str, find_call: Callable[[str], str | None]
) -> Translation:
    """A recording status callback -> call.recorded on the call's thread (ids and length, no audio)."""
    params = _Params(raw)
    call_sid = params.get("CallSid", pattern=_SID)
    recording_sid = params.get("RecordingSid", pattern=_SID)
    status = params.get("RecordingStatus", limit=32)
    duration = params.integer("RecordingDuration")
    channels = params.integer("RecordingChannels", most=2)
    error_code = params.get("ErrorCode", required=False, limit=64)
    if status is not None and status not in RECORDING_STATUSES | {"in-progress"}:
        params.errors.append(
            {"field": "RecordingStatus", "message": "RecordingStatus is not one Twilio sends"}
        )
    params.check()
    subject, ignored = _call_subject(params, call_sid, find_call)
    params.check()
    if status == "in-progress":
        return Translation(ignored=["recording.in-progress"])
    if ignored:
        return Translation(ignored=[f"recording.{ignored}"])
    data: dict[str, Any] = {
        "channel": "voice",
        "conversation_ref": call_sid,
        "recording_ref": recording_sid,
        "status": status,
    }
    if duration is not None:
        data["duration_seconds"] = duration
    if channels:
        data["audio_channels"] = channels
    if error_code and error_code != "0":
        data["error_code"] = error_code
    return Translation(events=[_event(source, f"{recording_sid}/{status}", "call.recorded", subject, data)])


def transcription(
    raw: list[tuple[str, list[str]]], *, source: str, find_call: Callable[[str], str | None]
) -> Translation:
    """A transcription callback -> call.transcribed on the call's thread, its text masked of card numbers
    by the pipeline like every value."""
    params = _Params(raw)
    call_sid = params.get("CallSid", pattern=_SID)
    transcription_sid = params.get("TranscriptionSid", pattern=_SID)
    recording_sid = params.get("RecordingSid", required=False, pattern=_SID)
    status = params.get("TranscriptionStatus", limit=32)
    text = params.get("TranscriptionText", required=False, limit=20_000)
    if status is not None and status not in TRANSCRIPTION_STATUSES:
        params.errors.append(
            {"field": "TranscriptionStatus", "message": "TranscriptionStatus is not one Twilio sends"}
        )
    params.check()
    subject, ignored = _call_subject(params, call_sid, find_call)
    params.check()
    if ignored:
        return Translation(ignored=[f"transcription.{ignored}"])
    data: dict[str, Any] = {
        "channel": "voice",
        "conversation_ref": call_sid,
        "transcription_ref": transcription_sid,
        "status": status,
    }
    if recording_sid:
        data["recording_ref"] = recording_sid
    if text:
        data["text"] = text
    event = _event(source, f"{transcription_sid}/{status}", "call.transcribed", subject, data)
    return Translation(events=[event])
