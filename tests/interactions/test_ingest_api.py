"""POST /api/v1/events in all three CloudEvents modes, idempotency, redaction, and every bad input."""

from __future__ import annotations

import json

import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from interactions.models import Role
from tests.conftest import client_for, cloud_event, ingested, log_snapshot
from tests.factories import ApiTokenFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def post_structured(api, event, **extra):
    return api.generic("POST", URL, json.dumps(event), content_type=STRUCTURED, **extra)


def post_batch(api, events):
    return api.generic("POST", URL, json.dumps(events), content_type=BATCH)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


# --- the three modes -------------------------------------------------------------------------------------


def test_structured_event_is_stored_with_its_attributes(api):
    response = post_structured(api, cloud_event(id="m-1", correlationid="conv-9"))

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": "m-1",
        "source": "/sms-gateway/eu-1",
        "position": body["position"],
        "duplicate": False,
        "customer_id": body["customer_id"],
        "thread_id": body["thread_id"],
    }
    row = ingested().get()
    assert (
        row.metadata["customer_id"] == body["customer_id"] and row.metadata["thread_id"] == body["thread_id"]
    )
    assert (row.position, row.type, row.subject) == (body["position"], "message.received", "tel:+15551234567")
    assert row.occurred_at.isoformat() == "2026-11-23T10:00:00+00:00"
    assert row.data == {"channel": "sms", "text": "Hello, my bill looks wrong"}
    assert row.metadata["correlation_id"] == "conv-9"
    assert row.metadata["token"]


def test_binary_mode_reads_percent_encoded_ce_headers_and_the_json_body(api):
    response = api.generic(
        "POST",
        URL,
        json.dumps({"channel": "email", "text": "Re: invoice", "conversation_ref": "<a@b>"}),
        content_type="application/json; charset=utf-8",
        HTTP_CE_SPECVERSION="1.0",
        HTTP_CE_ID="mail%2F42",
        HTTP_CE_SOURCE="/sms-gateway/mail-relay",
        HTTP_CE_TYPE="message.received",
        HTTP_CE_SUBJECT="mailto:Jane.Doe@Example.com",
    )

    assert response.status_code == 201, response.content
    row = ingested().get()
    assert row.event_id == "mail/42"
    assert row.subject == "mailto:jane.doe@example.com"
    assert row.metadata["subject_as_sent"] == "mailto:Jane.Doe@Example.com"


def test_missing_time_is_recorded_as_the_arrival_time(api):
    response = post_structured(api, cloud_event(time=None))

    assert response.status_code == 201
    row = ingested().get()
    assert row.occurred_at == row.recorded_at


def test_batch_appends_every_event_in_order_in_one_request(api):
    events = [cloud_event(id=f"b-{i}") for i in range(3)]

    response = post_batch(api, events)

    assert response.status_code == 201
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["b-0", "b-1", "b-2"]
    positions = [r["position"] for r in results]
    assert positions == sorted(positions)
    assert list(ingested().values_list("event_id", flat=True)) == ["b-0", "b-1", "b-2"]


def test_events_from_the_official_cloudevents_sdk_are_accepted_in_both_modes(api):
    event = CloudEvent(
        attributes={
            "type": "call.started",
            "source": "/sms-gateway/pbx",
            "id": "call-77",
            "subject": "tel:+442071838750",
            "datacontenttype": "application/json",
        },
        data={"direction": "inbound", "conversation_ref": "call-77", "ivr_path": ["billing"]},
    )
    structured = ce_http.to_structured(event, JSONFormat())
    binary = ce_http.to_binary(
        CloudEvent(
            attributes={
                "type": "call.ended",
                "source": "/sms-gateway/pbx",
                "id": "call-77-end",
                "subject": "tel:+442071838750",
                "datacontenttype": "application/json",
            },
            data={"direction": "inbound", "duration_seconds": 312, "disposition": "resolved"},
        ),
        JSONFormat(),
    )

    first = api.generic("POST", URL, structured.body, content_type=structured.headers["content-type"])
    second = api.generic(
        "POST",
        URL,
        binary.body,
        content_type=binary.headers.pop("content-type"),
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in binary.headers.items()},
    )

    assert first.status_code == 201, first.content
    assert second.status_code == 201, second.content
    assert list(ingested().values_list("type", flat=True)) == ["call.started", "call.ended"]


def test_sdk_event_reposted_many_times_is_stored_once(api):
    event = CloudEvent(
        attributes={
            "type": "note.added",
            "source": "/sms-gateway/crm",
            "id": "n-1",
            "subject": "account:A-100",
        },
        data={"text": "Customer prefers email"},
    )
    message = ce_http.to_structured(event, JSONFormat())

    responses = [
        api.generic("POST", URL, message.body, content_type=message.headers["content-type"]) for _ in range(3)
    ]

    assert [r.status_code for r in responses] == [201, 201, 201]
    assert [r.json()["duplicate"] for r in responses] == [False, True, True]
    assert len({r.json()["position"] for r in responses}) == 1
    assert ingested().count() == 1
    read = api.get(URL, {"after": 0}).json()["events"]
    assert [e["event"]["id"] for e in read] == ["n-1"]


def test_a_batch_repeating_posted_events_writes_only_the_new_ones(api):
    post_structured(api, cloud_event(id="x-1"))

    response = post_batch(api, [cloud_event(id="x-1"), cloud_event(id="x-2"), cloud_event(id="x-2")])

    assert [r["duplicate"] for r in response.json()["results"]] == [True, False, True]
    assert ingested().count() == 2


# --- redaction ---------------------------------------------------------------------------------------------


def test_card_numbers_and_security_codes_never_reach_the_log(api):
    event = cloud_event(
        data={
            "channel": "chat",
            "text": "Charge 4111-1111-1111-1111 please, CVV: 737",
            "attachments": [{"name": "card 5500 0000 0000 0004.png"}],
        }
    )

    response = post_structured(api, event)

    assert response.status_code == 201
    row = ingested().get()
    assert row.data["text"] == "Charge ****-****-****-1111 please, CVV: ***"
    assert row.data["attachments"][0]["name"] == "card **** **** **** 0004.png"
    assert row.metadata["redacted"] == ["data.text", "data.attachments[0].name"]
    assert "4111" not in json.dumps(row.data) and "737" not in json.dumps(row.data)


# --- bad input: clear problem+json and an unchanged log ---------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "status"),
    [
        ({"specversion": None}, "specversion", 422),
        ({"id": None}, "id", 422),
        ({"source": None}, "source", 422),
        ({"type": None}, "type", 422),
        ({"specversion": "0.3"}, "specversion", 422),
        ({"type": "message.teleported"}, "type", 422),
        ({"subject": "tel:12"}, "subject", 422),
        ({"subject": "fax:+15551234567"}, "subject", 422),
        ({"subject": None}, "subject", 422),
        ({"time": "yesterday"}, "time", 422),
        ({"time": "2026-11-23T10:00:00"}, "time", 422),
        ({"data": {"channel": "sms", "text": "x" * 20_001}}, "data.text", 422),
        ({"data": {"channel": "pigeon", "text": "hi"}}, "data.channel", 422),
        ({"data": {"channel": "sms"}}, "data.text", 422),
        ({"data": {"channel": "sms", "text": "hi", "direction": "outbound"}}, "data", 422),
        ({"data": {"channel": "sms", "text": "hi", "identifiers": ["tel:abc"]}}, "data.identifiers", 422),
        ({"data": None}, "data", 422),
        ({"datacontenttype": "text/plain"}, "datacontenttype", 422),
        ({"Bad-Name": "x"}, "Bad-Name", 422),
    ],
)
def test_invalid_event_is_rejected_naming_the_field_and_nothing_is_written(api, overrides, field, status):
    before = log_snapshot()

    body = assert_problem(post_structured(api, cloud_event(**overrides)), status)

    assert field in [e["field"] for e in body["errors"]], body
    assert all(e["index"] == 0 for e in body["errors"])
    assert log_snapshot() == before


@pytest.mark.parametrize(
    ("metric", "score"), [("csat", 0), ("csat", 6), ("nps", 11), ("nps", -1), ("ces", 8), ("csat", "5")]
)
def test_survey_scores_outside_their_scale_are_rejected(api, metric, score):
    event = cloud_event(type="survey.answered", data={"channel": "voice", "metric": metric, "score": score})

    assert_problem(post_structured(api, event), 422)
    assert ingested().count() == 0


def test_invalid_batch_writes_nothing_and_names_every_bad_event_by_index(api):
    post_structured(api, cloud_event(id="existing"))
    before = log_snapshot()
    events = [
        cloud_event(id="ok-1"),
        cloud_event(type="nope"),
        cloud_event(id="ok-2"),
        cloud_event(data={"channel": "sms", "text": 5}),
    ]

    body = assert_problem(post_batch(api, events), 422)

    assert sorted({(e["index"], e["field"]) for e in body["errors"]}) == [(1, "type"), (3, "data.text")]
    assert log_snapshot() == before


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[1, 2", b"\xff\xfe", b'{"specversion": NaN}'],
    ids=["broken", "empty", "unclosed", "not-utf8", "nan"],
)
def test_malformed_json_is_a_400(api, body):
    assert_problem(api.generic("POST", URL, body, content_type=STRUCTURED), 400)
    assert ingested().count() == 0


def test_structured_body_that_is_not_an_object_is_a_400(api):
    assert_problem(api.generic("POST", URL, "[]", content_type=STRUCTURED), 400)


def test_batch_that_is_not_an_array_or_is_empty_is_a_400(api):
    assert_problem(post_batch(api, cloud_event()), 400)
    assert_problem(post_batch(api, []), 400)
    assert ingested().count() == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json"]
)
def test_a_content_type_that_is_no_cloudevents_mode_is_a_415(api, content_type):
    body = assert_problem(api.generic("POST", URL, json.dumps(cloud_event()), content_type=content_type), 415)

    assert "application/cloudevents+json" in body["detail"]
    assert ingested().count() == 0


def test_binary_mode_with_non_json_data_is_a_415(api):
    response = api.generic(
        "POST",
        URL,
        "hello",
        content_type="text/plain",
        HTTP_CE_SPECVERSION="1.0",
        HTTP_CE_ID="1",
        HTTP_CE_SOURCE="/sms-gateway/x",
        HTTP_CE_TYPE="message.received",
        HTTP_CE_SUBJECT="tel:+15551234567",
    )

    assert_problem(response, 415)
    assert ingested().count() == 0


def test_body_over_one_mebibyte_is_a_413(api):
    event = cloud_event(data={"channel": "email", "text": "x", "padding": "y" * (1024 * 1024)})

    assert_problem(post_structured(api, event), 413)
    assert ingested().count() == 0


def test_batch_over_one_thousand_events_is_a_413(api):
    events = [{"specversion": "1.0", "id": str(i)} for i in range(1001)]

    body = assert_problem(post_batch(api, events), 413)

    assert body["max_batch"] == 1000
    assert ingested().count() == 0


def test_a_batch_of_exactly_one_thousand_is_accepted(api):
    events = [cloud_event(id=f"k-{i}", data={"channel": "sms", "text": "hi"}) for i in range(1000)]

    response = post_batch(api, events)

    assert response.status_code == 201
    assert ingested().count() == 1000


def test_missing_token_is_a_401_with_a_bearer_challenge(db):
    from rest_framework.test import APIClient

    response = APIClient().generic("POST", URL, json.dumps(cloud_event()), content_type=STRUCTURED)

    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert ingested().count() == 0


@pytest.mark.parametrize(
    "header", ["Bearer tl_not-a-real-token", "Bearer", "Basic dXNlcjpwYXNz", "Bearer a b"]
)
def test_wrong_token_is_a_401(db, header):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    assert_problem(client.generic("POST", URL, json.dumps(cloud_event()), content_type=STRUCTURED), 401)
    assert ingested().count() == 0


def test_revoked_token_is_a_401(api, integration_token):
    from interactions.access.tokens import token_revoke

    token_revoke(integration_token)

    assert_problem(post_structured(api, cloud_event()), 401)


def test_source_outside_the_tokens_prefix_is_a_403_and_no_event_of_the_batch_is_written(api):
    events = [cloud_event(id="fine"), cloud_event(source="/chat-widget/eu", id="theirs")]

    body = assert_problem(post_batch(api, events), 403)

    assert body["indexes"] == [1]
    assert ingested().count() == 0


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR])
def test_people_may_not_post_raw_events(db, role):
    client = client_for(ApiTokenFactory(role=role))

    assert_problem(client.generic("POST", URL, json.dumps(cloud_event()), content_type=STRUCTURED), 403)
    assert ingested().count() == 0


@pytest.mark.parametrize("source", ["/threadline", "/threadline/api"])
def test_nobody_may_post_as_the_hub_itself(db, source):
    client = client_for(ApiTokenFactory(role=Role.ADMIN))

    body = assert_problem(
        client.generic("POST", URL, json.dumps(cloud_event(source=source)), content_type=STRUCTURED), 422
    )

    assert body["errors"][0]["field"] == "source"
    assert ingested().count() == 0


def test_an_admin_token_may_post_for_any_source(db):
    client = client_for(ApiTokenFactory(role=Role.ADMIN))

    response = client.generic(
        "POST", URL, json.dumps(cloud_event(source="/anything")), content_type=STRUCTURED
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    "attribute", ["dataschema", "datacontenttype", "time", "correlationid", "schemaversion", "myext"]
)
def test_an_optional_attribute_sent_as_null_is_taken_as_unset(api, attribute):
    """The JSON format: a null attribute MUST be treated as unset. `dataschema` and extensions were a 422,
    so a producer whose SDK writes unset attributes as null could post nothing."""
    sent = {**cloud_event(id=f"null-{attribute}"), attribute: None}

    response = post_structured(api, sent)

    assert response.status_code == 201, response.content
    row = ingested().get()
    assert "extensions" not in row.metadata and "dataschema" not in row.metadata
    assert "correlation_id" not in row.metadata and row.schema_version == 1
    batch = post_batch(api, [{**cloud_event(id=f"null-{attribute}-b"), attribute: None}])
    assert batch.status_code == 201, batch.content


def test_a_required_attribute_sent_as_null_is_missing():
    from interactions.ingestion.cloudevents import parse_event

    for attribute in ("specversion", "id", "source", "type", "subject"):
        _, errors, _ = parse_event({**cloud_event(), attribute: None}, poster=_Everyone())
        assert errors == [{"field": attribute, "message": f"the required attribute {attribute!r} is missing"}]


class _Everyone:
    metadata: dict = {}

    def may_post(self, source: str) -> bool:
        return True


@pytest.mark.parametrize("name", ["foo\n", "foo\r", "Foo", "foo-bar", "a" * 21])
def test_an_extension_attribute_name_outside_a_z_0_9_is_refused_even_before_a_final_newline(api, name):
    """`$` matched before a final newline: `foo\\n` was stored beside `foo` and read back by everyone."""
    before = log_snapshot()

    response = post_structured(api, {**cloud_event(id="ext-name"), name: "x", "foo": "y"})

    problem = assert_problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == [name]
    assert log_snapshot() == before


def test_numbers_are_read_as_every_database_of_the_log_gives_them_back(api):
    """PostgreSQL's jsonb gave 1e23 back as the integer 10**23 and -0.0 as 0.0, where SQLite gave the floats
    back: what the append saw differed from every later read and replay."""
    import math

    from hub import log

    numbers = (
        '"big": 1e23, "bigger": -1.5e300, "zero": -0.0, "small": 1.5e-7, "whole": 4.0,'
        ' "integer": 123456789012345678901234567890, "fraction": 0.1'
    )
    body = json.dumps(cloud_event(id="numbers")).replace('"data": {', '"data": {' + numbers + ", ", 1)

    response = api.generic("POST", URL, body, content_type=STRUCTURED)

    assert response.status_code == 201, response.content
    (stored,) = [e for e in log.read_after(0) if e.id == "numbers"]
    data = {k: stored.data[k] for k in ("big", "bigger", "zero", "small", "whole", "integer", "fraction")}
    assert data == {
        "big": int(1e23),
        "bigger": int(-1.5e300),
        "zero": 0.0,
        "small": 1.5e-7,
        "whole": 4.0,
        "integer": 123456789012345678901234567890,
        "fraction": 0.1,
    }
    assert [type(data[k]) for k in ("big", "bigger", "zero", "whole")] == [int, int, float, float]
    assert math.copysign(1, data["zero"]) == 1
