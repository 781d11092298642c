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
        ({"after": "\uff11"}, "after"),  # a full-width 1
        ({"after": "\u0663"}, "after"),  # an Arabic-Indic 3
        ({"limit": "1.0"}, "limit"),
        ({"limit": " 1"}, "limit"),
    ],
)
def test_a_bad_cursor_or_limit_is_a_400_naming_the_field(api, params, field):
    response = api.get(URL, params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_reading_without_a_token_is_a_401(db):
    assert APIClient().get(URL).status_code == 401


def test_a_cursor_past_the_end_of_the_log_is_a_400_saying_where_it_ends(api):
    (position,) = post(api, [cloud_event(id="only")])

    at_end = api.get(URL, {"after": position})
    past = api.get(URL, {"after": position + 78})

    assert at_end.status_code == 200 and at_end.json()["events"] == []  # reading on at the end is fine
    assert past.status_code == 400 and past["Content-Type"] == "application/problem+json"
    (error,) = past.json()["errors"]
    assert error["field"] == "after" and f"past the end of the log ({position})" in error["message"]


def test_an_integration_reading_past_its_own_last_event_but_not_the_logs_gets_an_empty_page(db):
    mine = client_for(ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/sms-gateway/"))
    theirs = client_for(ApiTokenFactory(role=Role.INTEGRATION, source_prefix="/chat/"))
    (own,) = post(mine, [cloud_event(id="a", source="/sms-gateway/eu-1")])
    post(theirs, [cloud_event(id="b", source="/chat/web")])

    page = mine.get(URL, {"after": own + 1})  # a position it never saw, but one the log has

    assert page.status_code == 200 and page.json()["events"] == []
