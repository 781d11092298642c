"""The Twilio adapter through the real HTTP stack: signatures as Twilio's own validator makes them, every
payload kind, retries, malformed and hostile deliveries, kinds counted, revoked connections."""

from __future__ import annotations

import pytest
from django.core.files.uploadhandler import FileUploadHandler
from django.test import override_settings

from hub.models import StoredEvent
from interactions.connections.services import connection_create, connection_revoke, ignored_counts
from interactions.models import Thread, TimelineEntry
from interactions.threads.services import thread_resolve
from tests.conftest import ingested, store_snapshot
from tests.corpora.hostile import TWILIO_CASES, TwilioCase
from tests.interactions import helpers
from tests.interactions.adapters import twilio_payloads as tw

pytestmark = pytest.mark.django_db

HOOKS = "/hooks/twilio/acme"
SOURCE = "/connections/twilio/acme"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'


@pytest.fixture
def connection(db):
    return connection_create(provider="twilio", name="acme", secrets={"auth_token": tw.AUTH_TOKEN})


def post(client, purpose: str, params, **kwargs):
    return tw.signed_post(client, f"{HOOKS}/{purpose}", params, **kwargs)


def accepted(response) -> None:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/xml"
    assert response.content == TWIML


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def events_of(kind: str) -> list[StoredEvent]:
    return list(ingested().filter(type=kind))


# --- Signatures ---------------------------------------------------------------------------------------------


def test_a_signed_inbound_sms_becomes_message_received(client, connection):
    params = tw.inbound_sms()

    accepted(post(client, "messaging", params))

    [event] = ingested()
    assert (event.type, event.source, event.event_id) == ("message.received", SOURCE, params["MessageSid"])
    assert event.subject == f"tel:{tw.CUSTOMER}"
    assert event.data["channel"] == "sms" and event.data["direction"] == "inbound"
    assert event.data["text"] == "Hi, my bill looks wrong"
    assert event.data["message_ref"] == params["MessageSid"]
    assert event.metadata["connection"] == "acme"
    assert "token" not in event.metadata


@pytest.mark.parametrize(
    ("how", "kwargs"),
    [
        ("missing", {"signature": ""}),
        ("another token", {"token": "98765432109876543210987654321098"}),
        ("garbage", {"signature": "not-a-signature"}),
        ("another URL", {"signed_url": "http://testserver/hooks/twilio/acme/voice"}),
        ("another host", {"signed_url": "https://hub.example.com/hooks/twilio/acme/messaging"}),
    ],
)
def test_a_bad_or_missing_signature_answers_403_and_writes_nothing(client, connection, how, kwargs):
    before = store_snapshot()

    body = problem(post(client, "messaging", tw.inbound_sms(), **kwargs), 403)

    assert "X-Twilio-Signature" in body["detail"]
    assert store_snapshot() == before


def test_a_parameter_changed_after_signing_fails_the_signature(client, connection):
    params = tw.inbound_sms()
    signature = tw.RequestValidator(tw.AUTH_TOKEN).compute_signature(
        f"http://testserver{HOOKS}/messaging", params
    )
    before = store_snapshot()

    response = post(client, "messaging", {**params, "Body": "pay to this account"}, signature=signature)

    problem(response, 403)
    assert store_snapshot() == before


def test_a_signature_over_the_url_with_its_default_port_is_accepted(client, connection):
    accepted(post(client, "messaging", tw.inbound_sms(), signed_url=f"http://testserver:80{HOOKS}/messaging"))
    assert ingested().count() == 1


def test_a_host_with_a_port_out_of_range_is_a_403_not_a_500(client, connection):
    # Django takes the host; reading its port raised ValueError in the signature check.
    signed = f"http://testserver:99999{HOOKS}/messaging"
    before = store_snapshot()

    problem(post(client, "messaging", tw.inbound_sms(), signed_url=signed, HTTP_HOST="testserver:99999"), 403)

    assert store_snapshot() == before


def test_the_query_string_is_part_of_the_signed_url(client, connection):
    path = f"{HOOKS}/messaging?tenant=eu"
    accepted(tw.signed_post(client, path, tw.inbound_sms()))
    problem(
        tw.signed_post(client, path, tw.inbound_sms(), signed_url=f"http://testserver{HOOKS}/messaging"), 403
    )


def test_repeated_parameters_are_signed_as_twilio_does(client, connection):
    params = [*tw.inbound_sms().items(), ("AddOns", "b"), ("AddOns", "a")]
    accepted(post(client, "messaging", params))


def test_behind_a_proxy_the_public_url_is_what_twilio_signed(client, connection):
    public = "https://hub.example.com"
    with override_settings(THREADLINE_PUBLIC_URL=public + "/"):
        accepted(post(client, "messaging", tw.inbound_sms(), signed_url=f"{public}{HOOKS}/messaging"))
        # The URL as the hub received it (http://testserver) is not what Twilio signed any more.
        problem(post(client, "messaging", tw.inbound_sms()), 403)
    assert ingested().count() == 1


def test_without_the_setting_the_url_as_received_is_checked(client, connection):
    problem(
        post(client, "messaging", tw.inbound_sms(), signed_url=f"https://hub.example.com{HOOKS}/messaging"),
        403,
    )
    accepted(post(client, "messaging", tw.inbound_sms()))


def test_unknown_and_revoked_connections_answer_404_and_write_nothing(client, connection):
    before = store_snapshot()
    problem(tw.signed_post(client, "/hooks/twilio/nobody/messaging", tw.inbound_sms()), 404)

    connection_revoke(connection)
    body = problem(post(client, "messaging", tw.inbound_sms()), 404)
    problem(post(client, "voice", tw.call_status(tw.sid("CA"), "ringing")), 404)

    assert body["type"].endswith("/not-found")
    assert store_snapshot() == before
    assert ignored_counts(connection) == {}


def test_only_post_is_accepted(client, connection):
    response = client.get(f"{HOOKS}/messaging")
    assert problem(response, 405)["status"] == 405
    assert response["Allow"] == "POST"


def test_a_signed_body_that_is_not_a_form_is_malformed(client, connection):
    signature = tw.RequestValidator(tw.AUTH_TOKEN).compute_signature(
        f"http://testserver{HOOKS}/messaging", {}
    )
    response = client.post(
        f"{HOOKS}/messaging",
        '{"Body": "hi"}',
        content_type="application/json",
        HTTP_X_TWILIO_SIGNATURE=signature,
    )
    problem(response, 400)
    assert ingested().count() == 0


class RefusingUploads(FileUploadHandler):
    """Fails the request if a file part of its body is ever read."""

    def receive_data_chunk(self, raw_data, start):
        raise AssertionError("a file part of the body was read")

    def file_complete(self, file_size):
        raise AssertionError("a file part of the body was read")


@override_settings(FILE_UPLOAD_HANDLERS=[f"{__name__}.RefusingUploads"])
def test_a_multipart_body_is_refused_before_any_of_it_is_read(client, connection):
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + b"x" * 2_000_000
        + f"\r\n--{boundary}--\r\n".encode()
    )

    response = client.post(
        f"{HOOKS}/messaging", body, content_type=f"multipart/form-data; boundary={boundary}"
    )

    assert "a form (application/x-www-form-urlencoded)" in problem(response, 400)["detail"]
    assert ingested().count() == 0


# --- Messaging ----------------------------------------------------------------------------------------------


def test_media_become_attachment_metadata_and_are_never_fetched(client, connection):
    params = tw.inbound_mms([("image/jpeg", "ME" + "1" * 32), ("application/pdf", "ME" + "2" * 32)], Body="")

    accepted(post(client, "messaging", params))

    [event] = ingested()
    assert event.data["text"] == ""
    assert event.data["attachments"] == [
        {"name": "ME" + "1" * 32, "content_type": "image/jpeg", "url": params["MediaUrl0"]},
        {"name": "ME" + "2" * 32, "content_type": "application/pdf", "url": params["MediaUrl1"]},
    ]


def test_a_mexican_whatsapp_sender_joins_the_customer_of_their_sms_number(client, connection):
    # WhatsApp's id keeps the "1" after 52 that Mexico dropped from mobile numbers: +521... is no number.
    accepted(post(client, "messaging", tw.inbound_sms(From="+525512345678")))
    accepted(post(client, "messaging", tw.inbound_whatsapp(From="whatsapp:+5215512345678")))

    sms, whatsapp = ingested()
    assert whatsapp.subject == sms.subject == "tel:+525512345678"
    assert whatsapp.metadata["customer_id"] == sms.metadata["customer_id"]


def test_an_older_brazilian_whatsapp_id_joins_the_customer_it_made_before(client, connection, api):
    before = helpers.post(api, subject="tel:+551187654321", data={"channel": "whatsapp", "text": "old"})

    accepted(post(client, "messaging", tw.inbound_whatsapp(From="whatsapp:+551187654321")))

    event = ingested().get(type="message.received", source__startswith="/connections/")
    assert event.subject == "tel:+5511987654321"  # the number, with its ninth digit
    assert event.metadata["customer_id"] == before["customer_id"]  # and the customer it made before


def test_a_status_of_a_message_to_an_older_brazilian_whatsapp_id_stays_with_its_customer(
    client, connection, api
):
    """A status named only the number with its ninth digit: a second customer and thread for the person the
    message went to, where a message from the same id links the older one."""
    sid = tw.sid("SM")
    sent = helpers.post(
        api,
        type="message.sent",
        subject="tel:+551187654321",
        data={"channel": "whatsapp", "text": "your order", "message_ref": sid},
    )

    accepted(post(client, "message-status", tw.message_status(sid, "delivered", To="whatsapp:+551187654321")))

    status = ingested().get(type="message.status")
    assert (status.metadata["customer_id"], status.metadata["thread_id"]) == (
        sent["customer_id"],
        sent["thread_id"],
    )


@pytest.mark.parametrize(
    ("extra", "text", "place"),
    [
        (
            {"Label": "Shop 12", "Address": "1 High St, London"},
            "Shop 12, 1 High St, London",
            {"name": "Shop 12", "address": "1 High St, London"},
        ),
        ({}, "51.5074, -0.1278", {}),
    ],
    ids=["a named place", "coordinates only"],
)
def test_a_shared_whatsapp_location_is_recorded_with_its_place_as_the_text(
    client, connection, extra, text, place
):
    # Twilio sends a WhatsApp location with an empty Body: it was stored as an empty message.
    params = tw.inbound_whatsapp(
        Body="", MessageType="location", Latitude="51.5074", Longitude="-0.1278", **extra
    )

    accepted(post(client, "messaging", params))

    data = ingested().get().data
    assert data["text"] == text and data["content"] == "location"
    assert data["location"] == {"latitude": 51.5074, "longitude": -0.1278, **place}


def test_whatsapp_joins_the_customer_of_the_same_tel_number(client, connection):
    accepted(post(client, "messaging", tw.inbound_sms()))
    accepted(post(client, "messaging", tw.inbound_whatsapp(Body="Also on WhatsApp")))

    sms, whatsapp = ingested()
    assert whatsapp.subject == sms.subject == f"tel:{tw.CUSTOMER}"
    assert whatsapp.data["channel"] == "whatsapp"
    assert whatsapp.data["sender_name"] == "Jane Doe"
    assert whatsapp.metadata["customer_id"] == sms.metadata["customer_id"]
    assert whatsapp.metadata["thread_id"] == sms.metadata["thread_id"]


def test_a_retry_even_days_later_is_the_same_event(client, connection):
    params = tw.inbound_sms()
    accepted(post(client, "messaging", params))
    accepted(post(client, "messaging", params))
    with override_settings(THREADLINE_CONTINUATION_WINDOW_HOURS=0):  # the thread long gone quiet
        accepted(post(client, "messaging", params))

    assert ingested().count() == 1
    assert StoredEvent.objects.filter(type="thread.opened").count() == 1


def test_a_status_lands_on_the_thread_of_its_message(client, connection):
    message = tw.sid("SM")
    accepted(post(client, "messaging", tw.inbound_sms(MessageSid=message)))
    thread_id = ingested().get().metadata["thread_id"]

    accepted(post(client, "message-status", tw.message_status(message, "delivered")))
    accepted(post(client, "message-status", tw.message_status(message, "failed", ErrorCode="30003")))
    accepted(post(client, "message-status", tw.message_status(message, "failed", ErrorCode="30003")))  # retry

    delivered, failed = events_of("message.status")
    assert (delivered.event_id, failed.event_id) == (f"{message}/delivered", f"{message}/failed")
    assert delivered.data == {"channel": "sms", "message_ref": message, "status": "delivered"}
    assert failed.data["error_code"] == "30003"
    assert {delivered.metadata["thread_id"], failed.metadata["thread_id"]} == {thread_id}
    entry = TimelineEntry.objects.get(event_id=f"{message}/failed")
    assert entry.details["status"] == "failed" and entry.details["message_ref"] == message


def test_a_status_leaves_a_resolved_thread_resolved_and_is_no_contact(client, connection, supervisor_token):
    message = tw.sid("SM")
    accepted(post(client, "messaging", tw.inbound_sms(MessageSid=message)))
    thread_id = ingested().get().metadata["thread_id"]
    thread_resolve(thread_id=thread_id, actor=supervisor_token)
    contacts_before = Thread.objects.get(pk=thread_id).customer.channel_counts

    with override_settings(THREADLINE_CONTINUATION_WINDOW_HOURS=0):  # long after: still its thread
        accepted(
            post(client, "message-status", tw.message_status(message, "read", To=f"whatsapp:{tw.CUSTOMER}"))
        )

    [status] = events_of("message.status")
    assert status.metadata["thread_id"] == thread_id
    assert status.data["channel"] == "whatsapp"
    thread = Thread.objects.get(pk=thread_id)
    assert thread.status == "resolved"
    assert not StoredEvent.objects.filter(type="thread.reopened").exists()
    assert thread.customer.channel_counts == contacts_before


def test_a_status_of_a_message_the_hub_never_saw_goes_to_the_customers_open_thread(client, connection):
    accepted(post(client, "messaging", tw.inbound_sms()))
    thread_id = ingested().get().metadata["thread_id"]

    accepted(post(client, "message-status", tw.message_status(tw.sid("SM"), "undelivered")))

    [status] = events_of("message.status")
    assert status.metadata["thread_id"] == thread_id


def test_a_status_of_an_unknown_message_of_an_unknown_customer_opens_a_thread_for_it(client, connection):
    accepted(post(client, "message-status", tw.message_status(tw.sid("SM"), "failed", ErrorCode="30006")))

    [status] = events_of("message.status")
    assert status.subject == f"tel:{tw.CUSTOMER}"
    assert Thread.objects.filter(pk=status.metadata["thread_id"]).exists()


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("sending", "message-status.sending"),
        ("accepted", "message-status.accepted"),
        ("brand-new", "message-status.other"),
    ],
)
def test_statuses_the_hub_does_not_record_are_acknowledged_and_counted(client, connection, status, kind):
    accepted(post(client, "message-status", tw.message_status(tw.sid("SM"), status)))
    accepted(post(client, "message-status", tw.message_status(tw.sid("SM"), status)))

    assert ingested().count() == 0
    assert ignored_counts(connection) == {kind: 2}


def test_a_message_from_a_short_code_is_acknowledged_and_counted(client, connection):
    # A business's or carrier's short code is no customer and no number to call back: it was a 400.
    before = store_snapshot()

    accepted(post(client, "messaging", tw.inbound_sms(From="72345", Body="Your code is 4411")))

    assert store_snapshot() == before
    assert ignored_counts(connection) == {"messaging.short_code": 1}


@pytest.mark.parametrize("sender", ["Vodafone", "MyBank 24", "Z", "DHL Express"])
def test_a_message_from_an_alphanumeric_sender_id_is_acknowledged_and_counted(client, connection, sender):
    # A business's sender ID, as a short code is: it answered 400, and Twilio reported an error.
    before = store_snapshot()

    accepted(post(client, "messaging", tw.inbound_sms(From=sender, Body="Your parcel arrives today")))

    assert store_snapshot() == before
    assert ignored_counts(connection) == {"messaging.alphanumeric_sender": 1}


@pytest.mark.parametrize("sender", ["12", "Vodafone Ltd.", "Twelve chars", "Bank-24"])
def test_a_from_that_is_neither_a_number_nor_a_sender_id_is_still_refused(client, connection, sender):
    response = post(client, "messaging", tw.inbound_sms(From=sender))
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [{"field": "From", "message": "From is not a phone number"}]


def test_a_message_on_a_channel_the_hub_does_not_take_is_acknowledged_and_counted(client, connection):
    accepted(post(client, "messaging", tw.inbound_sms(From="messenger:1234567890")))

    assert ingested().count() == 0
    assert ignored_counts(connection) == {"messaging.channel.messenger": 1}


@pytest.mark.parametrize(
    "caller", ["sip:+15551234567@10.0.0.1:5060", "sip:alice@example.com:5061", "SIP:bob@example.com"]
)
def test_a_call_from_a_sip_address_with_a_port_or_in_capitals_is_acknowledged_and_counted(
    client, connection, caller
):
    """Read by its last colon, `sip:...@host:5060` had no scheme the hub knows of, and `SIP:` was no lower
    case one: 400, and Twilio reported an error for a call any other channel's address would have counted."""
    accepted(post(client, "voice", tw.call_status(tw.sid("CA"), "in-progress", From=caller)))

    assert ingested().count() == 0
    assert ignored_counts(connection) == {"voice.channel.sip": 1}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"MessageSid": ""}, "MessageSid"),
        ({"From": ""}, "From"),
        ({"MessageSid": "SM123"}, "MessageSid"),
        ({"From": "+1"}, "From"),
        ({"NumMedia": "2"}, "MediaUrl0"),
        ({"NumMedia": "eleven"}, "NumMedia"),
        ({"Latitude": "51.5"}, "Latitude"),
        ({"Latitude": "91", "Longitude": "0"}, "Latitude"),
        ({"Latitude": "nan", "Longitude": "0"}, "Latitude"),
        ({"Latitude": "north", "Longitude": "0"}, "Latitude"),
    ],
)
def test_a_malformed_message_answers_400_naming_the_parameter_and_writes_nothing(
    client, connection, params, field
):
    before = store_snapshot()

    body = problem(post(client, "messaging", {**tw.inbound_sms(), **params}), 400)

    assert field in [e["field"] for e in body["errors"]]
    assert store_snapshot() == before


def test_a_number_the_hub_cannot_read_as_a_phone_is_malformed(client, connection):
    body = problem(post(client, "messaging", tw.inbound_sms(From="+999123")), 400)
    assert body["errors"][0]["field"] == "subject"
    assert ingested().count() == 0


def test_a_card_number_in_the_body_is_masked(client, connection):
    accepted(post(client, "messaging", tw.inbound_sms(Body="my card is 4111 1111 1111 1111 exp 12/29")))

    [event] = ingested()
    assert "4111 1111 1111 1111" not in event.data["text"] and "1111" in event.data["text"]
    assert event.metadata["redacted"] == ["data.text"]


# --- Voice --------------------------------------------------------------------------------------------------


def test_an_answered_then_completed_inbound_call(client, connection):
    call = tw.sid("CA")
    accepted(post(client, "voice", tw.call_status(call, "ringing")))
    accepted(post(client, "voice", tw.call_status(call, "in-progress")))
    accepted(post(client, "voice", tw.call_status(call, "completed")))
    accepted(post(client, "voice", tw.call_status(call, "completed")))  # a retry

    started, ended = ingested()
    assert (started.type, started.event_id) == ("call.started", f"{call}/started")
    assert (ended.type, ended.event_id) == ("call.ended", f"{call}/ended")
    assert started.subject == ended.subject == f"tel:{tw.CUSTOMER}"
    assert started.data["direction"] == "inbound" and started.data["conversation_ref"] == call
    assert ended.data["duration_seconds"] == 125 and ended.data["disposition"] == "completed"
    assert ended.occurred_at.isoformat() == "2026-11-23T10:05:00+00:00"
    assert started.metadata["thread_id"] == ended.metadata["thread_id"]
    assert ignored_counts(connection) == {"voice.ringing": 1}


def test_a_completed_callback_alone_records_the_call_as_started_and_ended(client, connection):
    call = tw.sid("CA")
    accepted(post(client, "voice", tw.call_status(call, "completed")))
    accepted(post(client, "voice", tw.call_status(call, "in-progress")))  # late, and already written

    started, ended = ingested()
    assert (started.type, ended.type) == ("call.started", "call.ended")
    # Started when it began: the end's Timestamp (10:05:00) less its CallDuration (125 s).
    assert started.occurred_at.isoformat() == "2026-11-23T10:02:55+00:00"
    assert ended.occurred_at.isoformat() == "2026-11-23T10:05:00+00:00"


@pytest.mark.parametrize("status", ["busy", "no-answer", "failed", "canceled"])
def test_an_outbound_call_that_did_not_connect_ends_with_its_disposition(client, connection, status):
    call = tw.sid("CA")
    accepted(post(client, "voice", tw.call_status(call, status, direction="outbound-api")))

    [ended] = ingested()
    assert ended.type == "call.ended"
    assert ended.subject == f"tel:{tw.CUSTOMER}"  # the one called
    assert ended.data["direction"] == "outbound"
    assert (ended.data["disposition"], ended.data["duration_seconds"]) == (status, 0)


def test_an_anonymous_caller_is_acknowledged_and_counted(client, connection):
    accepted(post(client, "voice", tw.call_status(tw.sid("CA"), "completed", From="anonymous")))
    assert ingested().count() == 0
    assert ignored_counts(connection) == {"voice.anonymous-caller": 1}


def test_recording_and_transcription_join_the_calls_thread_with_the_transcript_masked(client, connection):
    call, rec = tw.sid("CA"), tw.sid("RE")
    accepted(post(client, "voice", tw.call_status(call, "in-progress")))
    thread_id = ingested().get().metadata["thread_id"]

    accepted(post(client, "recording", tw.recording(call, rec, "in-progress")))
    accepted(post(client, "recording", tw.recording(call, rec)))
    text = "Yes my card number is 5555 5555 5555 4444 and the expiry"
    transcript = tw.transcription(call, rec, text)
    accepted(post(client, "transcription", transcript))
    accepted(post(client, "transcription", transcript))  # a retry

    recorded, transcribed = events_of("call.recorded") + events_of("call.transcribed")
    assert recorded.data == {
        "channel": "voice", "conversation_ref": call, "recording_ref": rec, "status": "completed",
        "duration_seconds": 118, "audio_channels": 1,
    }  # fmt: skip
    assert "url" not in str(recorded.data).lower()  # no pointer to the audio is kept
    assert transcribed.data["transcription_ref"] == transcript["TranscriptionSid"]
    assert "5555 5555 5555 4444" not in transcribed.data["text"] and "4444" in transcribed.data["text"]
    assert {recorded.metadata["thread_id"], transcribed.metadata["thread_id"]} == {thread_id}
    assert ignored_counts(connection) == {"recording.in-progress": 1}
    entry = TimelineEntry.objects.get(event_id=recorded.event_id)
    assert entry.details["recording_ref"] == rec


def test_a_recording_of_a_call_the_hub_never_saw_is_acknowledged_and_counted(client, connection):
    before = store_snapshot()
    accepted(post(client, "recording", tw.recording(tw.sid("CA"), tw.sid("RE"))))
    assert store_snapshot() == before
    assert ignored_counts(connection) == {"recording.unknown-call": 1}


def test_a_recording_of_a_long_resolved_call_stays_on_its_thread(client, connection, supervisor_token):
    call = tw.sid("CA")
    accepted(post(client, "voice", tw.call_status(call, "completed")))
    thread_id = ingested().first().metadata["thread_id"]
    thread_resolve(thread_id=thread_id, actor=supervisor_token)

    with override_settings(THREADLINE_CONTINUATION_WINDOW_HOURS=0):
        accepted(post(client, "recording", tw.recording(call, tw.sid("RE"))))

    [recorded] = events_of("call.recorded")
    assert recorded.metadata["thread_id"] == thread_id
    assert Thread.objects.get(pk=thread_id).status == "resolved"


@pytest.mark.parametrize(
    ("purpose", "build", "field"),
    [
        ("voice", lambda: tw.call_status(tw.sid("CA"), "exploded"), "CallStatus"),
        ("voice", lambda: tw.call_status(tw.sid("CA"), "completed", Direction="sideways"), "Direction"),
        ("voice", lambda: tw.call_status(tw.sid("CA"), "completed", CallDuration="-5"), "CallDuration"),
        ("voice", lambda: tw.call_status("CA-not-a-sid", "completed"), "CallSid"),
        ("recording", lambda: tw.recording(tw.sid("CA"), tw.sid("RE"), "lost"), "RecordingStatus"),
        ("recording", lambda: tw.recording(tw.sid("CA"), ""), "RecordingSid"),
        (
            "transcription",
            lambda: tw.transcription(tw.sid("CA"), tw.sid("RE"), "x", TranscriptionStatus="maybe"),
            "TranscriptionStatus",
        ),
    ],
)
def test_malformed_voice_callbacks_answer_400_and_write_nothing(client, connection, purpose, build, field):
    before = store_snapshot()
    body = problem(post(client, purpose, build()), 400)
    assert field in [e["field"] for e in body["errors"]]
    assert store_snapshot() == before
    assert ignored_counts(connection) == {}


def test_too_many_form_fields_is_malformed(client, connection):
    params = [*tw.inbound_sms().items(), *((f"X{i}", "1") for i in range(1000))]
    problem(post(client, "messaging", params), 400)
    assert ingested().count() == 0


# --- The hostile corpus's Twilio section --------------------------------------------------------------------


@pytest.mark.parametrize("case", TWILIO_CASES, ids=[c.name for c in TWILIO_CASES])
def test_hostile_twilio_deliveries_are_refused_naming_the_field_and_change_nothing(
    client, connection, case: TwilioCase
):
    before = store_snapshot()

    body = problem(post(client, case.purpose, case.params()), case.status)

    named = [
        e
        for e in body.get("errors", [])
        if e["field"] == case.field or e["field"].startswith(case.field + ".")
    ]
    assert named, body
    assert store_snapshot() == before
    assert ignored_counts(connection) == {}


def test_a_sid_whose_hex_digits_pass_luhn_is_an_id_not_a_card(client, connection):
    message = "SM" + "4111111111111111" + "abcdefabcdefabcd"  # 16 decimal digits in a row that pass Luhn
    accepted(post(client, "messaging", tw.inbound_sms(MessageSid=message)))
    accepted(post(client, "message-status", tw.message_status(message, "delivered")))

    received, status = ingested()
    assert received.event_id == received.data["message_ref"] == message
    assert status.event_id == f"{message}/delivered"
    assert status.metadata["thread_id"] == received.metadata["thread_id"]


def test_secrets_the_key_no_longer_opens_answer_500_and_write_nothing(client, connection):
    before = store_snapshot()
    with override_settings(THREADLINE_SECRETS_KEY=["a-key-that-did-not-seal-it"]):
        body = problem(post(client, "messaging", tw.inbound_sms()), 500)
    assert body["type"].endswith("/secrets-unreadable")
    assert tw.AUTH_TOKEN not in str(body)
    assert store_snapshot() == before
