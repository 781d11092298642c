"""GET /api/v1/events: replaying the log in order, per token role, with clear errors for bad cursors."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from interactions.models import Role
from tests.conftest import client_for, cloud_event
from tests.factories import ApiTokenFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


def post(client, events):
    response = client.generic(
        "POST", URL, json.dumps(events), content_type="application/cloudevents-batch+json"
    )
    assert response.status_code == 201, response.content
    return [r["position"] for r in response.json()["results"]]


def test_reading_after_a_position_pages_through_the_log_in_order(api):
    positions = post(api, [cloud_event(id=f"e-{i}") for i in range(5)])

    first = api.get(URL, {"after": 0, "limit": 2}).json()
    second = api.get(URL, {"after": first["next_after"], "limit": 2}).json()
    last = api.get(URL, {"after": second["next_after"], "limit": 2}).json()
    empty = api.get(URL, {"after": last["next_after"]}).json()

    read = [e["position"] for page in (first, second, last) for e in page["events"]]
    assert read == positions
    assert [first["has_more"], second["has_more"], last["has_more"]] == [True, True, False]
    assert empty == {"events": [], "next_after": positions[-1], "has_more": False}


def test_read_back_event_is_the_cloudevent_as_stored(api):
    post(api, [cloud_event(id="r-1", correlationid="c-1")])

    item = api.get(URL).json()["events"][0]

    assert item["event"] == {
        "specversion": "1.0",
        "id": "r-1",
        "source": "/sms-gateway/eu-1",
        "type": "message.received",
        "subject": "tel:+15551234567",
        "time": "2026-11-23T10:00:00Z",
        "datacontenttype": "application/json",
        "correlationid": "c-1",
        "data": {"channel": "sms", "text": "Hello, my bill looks wrong"},
    }
    # The event continues the thread the hub opened for it: the thread's stream, after thread.opened.
    assert item["stream"].startswith("thread-") and item["stream_version"] == 2
    assert item["schema_version"] == 1
    assert item["metadata"]["thread_id"] == item["stream"].removeprefix("thread-")
    assert item["metadata"]["correlation_id"] == "c-1"


def test_an_integration_token_reads_only_its_own_sources(db):
    mine = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/sms/")
    theirs = ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/chat/")
    post(client_for(mine), [cloud_event(source="/sms/1", id="a")])
    post(client_for(theirs), [cloud_event(source="/chat/1", id="b")])

    assert [e["event"]["id"] for e in client_for(mine).get(URL).json()["events"]] == ["a"]
    supervisor = client_for(ApiTokenFactory(role=Role.SUPERVISOR))
    everything = supervisor.get(URL).json()["events"]
    assert [e["event"]["id"] for e in everything if e["event"]["source"] != "/threadline"] == ["a", "b"]
    assert {e["event"]["type"] for e in everything if e["event"]["source"] == "/threadline"} == {
        "customer.created",
        "thread.opened",
    }


def test_an_agent_may_not_read_the_raw_log(db):
    response = client_for(ApiTokenFactory(role=Role.AGENT)).get(URL)

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "x"}, "after"),
        ({"after": -1}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
    ],
)
def test_a_bad_cursor_or_limit_is_a_400_naming_the_field(api, params, field):
    response = api.get(URL, params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_reading_without_a_token_is_a_401(db):
    assert APIClient().get(URL).status_code == 401
