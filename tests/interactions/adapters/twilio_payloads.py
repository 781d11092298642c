"""Twilio's webhook parameters, written here after Twilio's documentation of each request (Messaging
webhooks, message status callbacks, Voice status callbacks, recording status callbacks and <Record>'s
transcribeCallback), and the helpers that sign and post them as Twilio does."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.http import QueryDict
from twilio.request_validator import RequestValidator

AUTH_TOKEN = "12345678901234567890123456789012"
ACCOUNT = "AC" + "a" * 32
OUR_NUMBER = "+15017122661"
CUSTOMER = "+15558675310"
FORM = "application/x-www-form-urlencoded"


def sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def inbound_sms(**overrides: str) -> dict[str, str]:
    message = overrides.pop("MessageSid", None) or sid("SM")
    params = {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": message, "NumMedia": "0", "ToCity": "",
        "FromZip": "", "SmsSid": message, "FromState": "CA", "SmsStatus": "received", "FromCity": "",
        "Body": "Hi, my bill looks wrong", "FromCountry": "US", "To": OUR_NUMBER, "ToZip": "",
        "NumSegments": "1", "MessageSid": message, "AccountSid": ACCOUNT, "From": CUSTOMER,
        "ApiVersion": "2010-04-01",
    }  # fmt: skip
    return {**params, **overrides}


def inbound_mms(media: list[tuple[str, str]], **overrides: str) -> dict[str, str]:
    message = overrides.pop("MessageSid", None) or sid("MM")
    params = inbound_sms(MessageSid=message, NumMedia=str(len(media)), **overrides)
    for n, (content_type, media_sid) in enumerate(media):
        params[f"MediaContentType{n}"] = content_type
        params[f"MediaUrl{n}"] = (
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/{message}/Media/{media_sid}"
        )
    return params


def inbound_whatsapp(**overrides: str) -> dict[str, str]:
    params = inbound_sms(
        From=f"whatsapp:{CUSTOMER}", To=f"whatsapp:{OUR_NUMBER}", ProfileName="Jane Doe",
        WaId=CUSTOMER.lstrip("+"), MessageType="text",
    )  # fmt: skip
    for key in ("ToCountry", "ToState", "ToCity", "FromZip", "FromState", "FromCity", "FromCountry", "ToZip"):
        params.pop(key)
    return {**params, **overrides}


def message_status(message: str, status: str, **overrides: str) -> dict[str, str]:
    params = {
        "SmsSid": message, "SmsStatus": status, "MessageStatus": status, "To": CUSTOMER,
        "MessageSid": message, "AccountSid": ACCOUNT, "From": OUR_NUMBER, "ApiVersion": "2010-04-01",
    }  # fmt: skip
    return {**params, **overrides}


def call_status(call: str, status: str, *, direction: str = "inbound", **overrides: str) -> dict[str, str]:
    caller, called = (CUSTOMER, OUR_NUMBER) if direction == "inbound" else (OUR_NUMBER, CUSTOMER)
    params = {
        "Called": called, "ToState": "CA", "CallerCountry": "US", "Direction": direction,
        "Timestamp": "Mon, 23 Nov 2026 10:05:00 +0000", "CallbackSource": "call-progress-events",
        "SipResponseCode": "200", "CallerState": "CA", "ToZip": "", "SequenceNumber": "0", "CallSid": call,
        "To": called, "CallerZip": "", "ToCountry": "US", "CalledZip": "", "ApiVersion": "2010-04-01",
        "CalledCity": "", "CallStatus": status, "From": caller, "AccountSid": ACCOUNT, "CalledCountry": "US",
        "CallerCity": "", "ToCity": "", "FromCountry": "US", "Caller": caller, "FromCity": "",
        "CalledState": "CA", "FromZip": "", "FromState": "CA",
    }  # fmt: skip
    if status in ("completed", "busy", "no-answer", "failed", "canceled"):
        params["CallDuration"] = "0" if status != "completed" else "125"
        params["Duration"] = "0" if status != "completed" else "3"
    return {**params, **overrides}


def recording(call: str, recording_sid: str, status: str = "completed", **overrides: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT, "CallSid": call, "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}",
        "RecordingStatus": status, "RecordingDuration": "118", "RecordingChannels": "1",
        "RecordingStartTime": "Mon, 23 Nov 2026 10:03:02 +0000", "RecordingSource": "RecordVerb",
        "RecordingTrack": "both", "ErrorCode": "0",
    }  # fmt: skip
    return {**params, **overrides}


def transcription(call: str, recording_sid: str, text: str, **overrides: str) -> dict[str, str]:
    transcription_sid = overrides.pop("TranscriptionSid", None) or sid("TR")
    params = {
        "TranscriptionSid": transcription_sid, "TranscriptionText": text, "TranscriptionStatus": "completed",
        "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Transcriptions/{transcription_sid}",
        "RecordingSid": recording_sid,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{recording_sid}",
        "CallSid": call, "AccountSid": ACCOUNT, "From": CUSTOMER, "To": OUR_NUMBER, "CallStatus": "completed",
        "ApiVersion": "2010-04-01", "Direction": "inbound",
    }  # fmt: skip
    return {**params, **overrides}


def as_query(params: dict[str, str] | list[tuple[str, str]]) -> QueryDict:
    query = QueryDict(mutable=True)
    for key, value in params.items() if isinstance(params, dict) else params:
        query.appendlist(key, value)
    return query


def signed_post(
    client,
    path: str,
    params: dict[str, str] | list[tuple[str, str]],
    *,
    signed_url: str | None = None,
    token: str = AUTH_TOKEN,
    signature: str | None = None,
    **extra,
):
    """POST a form as Twilio does, signed with the official validator over `signed_url` (by default the URL
    the test client calls)."""
    url = signed_url or f"http://testserver{path}"
    query = as_query(params)
    if signature is None:
        signature = RequestValidator(token).compute_signature(url, query)
    body = urlencode(list(params.items()) if isinstance(params, dict) else params)
    headers = {"HTTP_X_TWILIO_SIGNATURE": signature} if signature else {}
    return client.post(path, body, content_type=extra.pop("content_type", FORM), **headers, **extra)
