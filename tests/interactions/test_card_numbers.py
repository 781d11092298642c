"""Card numbers where the issue found them: keys refused (never masked into one another), values masked
whatever carries them (attributes, headers, JSON numbers, object keys, commands, callbacks)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from hub.models import StoredEvent
from interactions.agents import services as presence
from interactions.callbacks import dispatch
from tests.conftest import client_for, cloud_event, ingested, log_snapshot
from tests.corpora import cards

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"
ACCOUNT = "account:3530111333300000"  # a JCB test card number as an account number


def post(api, event, content_type="application/cloudevents+json", **headers):
    return api.generic("POST", URL, json.dumps(event), content_type=content_type, **headers)


def refused_fields(response, status=422) -> list[str]:
    assert response.status_code == status, response.content
    assert cards.numbers_in(response.content.decode()) == set()
    return [e["field"] for e in response.json()["errors"]]


# --- keys: refused, never masked ----------------------------------------------------------------------------


def test_two_people_whose_addresses_differ_only_in_card_digits_are_refused_not_merged(api):
    first = cloud_event(
        subject="tel:+15551230001",
        data={"channel": "sms", "text": "hi", "identifiers": ["mailto:4111111111111111@example.com"]},
    )
    second = cloud_event(
        subject="tel:+15551230002",
        data={"channel": "sms", "text": "hi", "identifiers": ["mailto:4444333322221111@example.com"]},
    )

    assert refused_fields(post(api, first)) == ["data.identifiers"]
    assert refused_fields(post(api, second)) == ["data.identifiers"]
    assert not StoredEvent.objects.filter(type="customer.merged").exists()
    assert log_snapshot() == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"data": {"channel": "sms", "text": "x", "identifiers": [ACCOUNT]}}, "data.identifiers"),
        ({"subject": ACCOUNT}, "subject"),
        ({"subject": "mailto:4111111111111111@example.com"}, "subject"),
        ({"id": "pay-4111-1111-1111-1111"}, "id"),
        ({"source": "/sms-gateway/4111111111111111"}, "source"),
        ({"source": "/pos/4111111111111111"}, "source"),  # outside the token's prefix too: the card first
    ],
)  # fmt: skip
def test_a_card_number_in_a_key_is_a_422_naming_the_field_and_nothing_is_written(api, overrides, field):
    assert refused_fields(post(api, cloud_event(**overrides))) == [field]
    assert log_snapshot() == []


def test_a_card_number_as_an_extension_attribute_name_is_refused(api):
    assert refused_fields(post(api, cloud_event(**{"4111111111111111": "x"}))) == ["************1111"]


def test_a_card_number_in_binary_mode_id_and_subject_headers_is_refused(api):
    response = post(
        api,
        {"channel": "sms", "text": "hi"},
        content_type="application/json",
        HTTP_CE_SPECVERSION="1.0",
        HTTP_CE_ID="pay%204111%201111%201111%201111",
        HTTP_CE_SOURCE="/sms-gateway/x",
        HTTP_CE_TYPE="message.received",
        HTTP_CE_SUBJECT="account%3A3530111333300000",
    )

    assert sorted(refused_fields(response)) == ["id", "subject"]


def test_two_data_keys_that_differ_only_in_a_card_number_are_refused(api):
    event = cloud_event(
        data={"channel": "sms", "text": "x", "cards": {"4111111111111111": 1, "4444333322221111": 2}}
    )

    assert refused_fields(post(api, event)) == ["data.cards"]


def test_a_phone_number_that_passes_luhn_still_identifies_its_customer(api):
    response = post(api, cloud_event(subject="tel:+4915123456704"))  # a German mobile number

    assert response.status_code == 201, response.content
    assert ingested().get().subject == "tel:+4915123456704"


# --- values: masked, last four kept -------------------------------------------------------------------------


def test_attributes_headers_and_json_numbers_are_masked(api):
    structured = cloud_event(
        paymentref="4111.1111.1111.1111",
        correlationid="4111\u00a01111\u00a01111\u00a01111",
        dataschema="https://schemas.example.com/4111111111111111",
        data={"channel": "sms", "text": "ok", "ref": 4111111111111111, "refs": [4.111111111111111e15]},
    )
    assert post(api, structured).status_code == 201
    binary = post(
        api,
        {"channel": "sms", "text": "card 4111  1111  1111  1111"},
        content_type="application/json",
        HTTP_CE_SPECVERSION="1.0",
        HTTP_CE_ID="bin-1",
        HTTP_CE_SOURCE="/sms-gateway/x",
        HTTP_CE_TYPE="message.received",
        HTTP_CE_SUBJECT="tel:+15551234567",
        HTTP_CE_PAYMENTREF="4111%0A1111%0A1111%0A1111",
        HTTP_CE_DATASCHEMA="https://schemas.example.com/4111-1111-1111-1111",
    )
    assert binary.status_code == 201, binary.content

    first, second = ingested()
    assert first.data["ref"] == "************1111" and first.data["refs"] == ["************1111"]
    assert first.metadata["extensions"]["paymentref"] == "****.****.****.1111"
    assert first.metadata["correlation_id"] == "****\u00a0****\u00a0****\u00a01111"
    assert first.metadata["dataschema"] == "https://schemas.example.com/************1111"
    assert "metadata.dataschema" in first.metadata["redacted"] and "data.ref" in first.metadata["redacted"]
    assert second.data["text"] == "card ****  ****  ****  1111"
    assert second.metadata["extensions"]["paymentref"] == "****\n****\n****\n1111"
    assert second.metadata["dataschema"] == "https://schemas.example.com/****-****-****-1111"
    read = api.get(URL, {"after": 0}).json()["events"]
    # Not a substring test: a random uuid or a timestamp in the page may hold the digits 4111.
    assert cards.numbers_in(json.dumps(read)) == set()
    # An integer extension is 32 bits in CloudEvents: a card number written as one is refused whole.
    refused = post(api, cloud_event(amountref=4111111111111111))
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "amountref"
    assert "4111111111111111" not in refused.content.decode()


def test_thread_reasons_and_notes_are_masked(api, agent_api):
    thread_id = post(api, cloud_event()).json()["thread_id"]
    threads = f"/api/v1/threads/{thread_id}"

    agent_api.post(f"{threads}/resolve", {"reason": "refunded 4111.1111.1111.1111"}, format="json")
    agent_api.post(f"{threads}/reopen", {"reason": "4111  1111  1111  1111 again"}, format="json")
    agent_api.post(f"{threads}/notes", {"text": "card 4111.1111.1111.1111"}, format="json")

    stored = {e.type: e for e in StoredEvent.objects.filter(stream=f"thread-{thread_id}")}
    assert stored["thread.resolved"].data["reason"] == "refunded ****.****.****.1111"
    assert stored["thread.reopened"].data["reason"] == "****  ****  ****  1111 again"
    assert stored["note.added"].data["text"] == "card ****.****.****.1111"
    assert stored["thread.resolved"].metadata["redacted"] == ["data.reason"]


def test_callback_reasons_and_outcome_notes_are_masked_also_in_the_next_offers_context(api, agent_token):
    agent = client_for(agent_token)
    presence.agent_socket_open(agent=agent_token)
    presence.agent_status_set(agent=agent_token, status="available")
    callbacks = "/api/v1/callbacks"
    request = {
        "identifier": "tel:+15551234567",
        "phone": "+15551234567",
        "reason": "card 4111.1111.1111.1111",
    }
    declined = api.post(callbacks, request, format="json").json()["id"]
    dispatch.callbacks_dispatch()
    agent.post(f"{callbacks}/{declined}/decline", {"reason": "4111 1111 1111 1111?"}, format="json")
    api.post(f"{callbacks}/{declined}/cancel", {"reason": "paid 4111-1111-1111-1111"}, format="json")
    retried = api.post(callbacks, request, format="json").json()["id"]
    dispatch.callbacks_dispatch()
    agent.post(f"{callbacks}/{retried}/accept")
    agent.post(
        f"{callbacks}/{retried}/outcome", {"outcome": "busy", "note": "4111\n1111\n1111\n1111"}, format="json"
    )
    dispatch.callbacks_dispatch(now=timezone.now() + timedelta(minutes=6))  # the retry is offered

    events = StoredEvent.objects.filter(stream__in=[f"callback-{declined}", f"callback-{retried}"])
    assert events.filter(type="callback.requested")[0].data["reason"] == "card ****.****.****.1111"
    assert events.get(type="callback.declined").data["reason"] == "**** **** **** 1111?"
    assert events.get(type="callback.cancelled").data["reason"] == "paid ****-****-****-1111"
    assert events.get(type="callback.busy").data["note"] == "****\n****\n****\n1111"
    second_offer = events.filter(type="callback.offered").order_by("position").last()
    recent = second_offer.data["context"]["recent"]  # the timeline the agent is offered
    assert any("****\n****\n****\n1111" in entry["text"] for entry in recent)
    assert cards.numbers_in(json.dumps([e.data for e in events])) == set()  # the offers hold uuids and times
