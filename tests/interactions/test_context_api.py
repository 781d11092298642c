"""The context and thread read APIs: shapes, ordering, pagination, permissions, errors and query counts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from interactions.models import Customer, Role
from tests.conftest import client_for, cloud_event, log_snapshot
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import context, post
from tests.interactions.test_stored_fields import assert_rebuild_gives_the_same_read_models

pytestmark = pytest.mark.django_db


def seed(api, count: int, subject: str) -> None:
    events = [
        cloud_event(
            subject=subject,
            time=f"2026-11-{1 + i * 20 // max(count, 1):02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            data={"channel": ("sms", "chat", "email")[i % 3], "text": f"message {i}"},
        )
        for i in range(count)
    ]
    for start in range(0, count, 1000):
        response = api.generic(
            "POST",
            "/api/v1/events",
            json.dumps(events[start : start + 1000]),
            content_type="application/cloudevents-batch+json",
        )
        assert response.status_code == 201, response.content


def test_context_reads_take_the_same_number_of_queries_for_10_or_1000_events(
    api, django_assert_max_num_queries
):
    seed(api, 10, "tel:+15551230010")
    seed(api, 1000, "tel:+15551231000")

    counts = []
    for subject in ("tel:+15551230010", "tel:+15551231000"):
        with CaptureQueriesContext(connection) as queries:
            body = context(api, subject)
        counts.append(len(queries))
        assert len(body["open_threads"][0]["recent"]) == min(20, body["open_threads"][0]["event_count"])
    with django_assert_max_num_queries(counts[0]):
        big = context(api, "tel:+15551231000")

    assert counts[0] == counts[1]
    assert big["customer"]["channel_counts"] == {"sms": 334, "chat": 333, "email": 333}
    recent = big["open_threads"][0]["recent"]
    assert [e["occurred_at"] for e in recent] == sorted(e["occurred_at"] for e in recent)


def test_context_for_an_identifier_in_another_format_finds_the_customer(api):
    created = post(api, subject="tel:+15551234567")

    assert context(api, "tel:+1 (555) 123-4567")["customer"]["id"] == created["customer_id"]


def test_context_for_an_unknown_identifier_is_a_404_and_creates_no_customer(api):
    response = api.get("/api/v1/context", {"identifier": "tel:+15550000000"})

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert Customer.objects.count() == 0


@pytest.mark.parametrize("identifier", ["tel:abc", "nonsense", ""])
def test_context_for_an_identifier_that_does_not_parse_is_a_400(api, identifier):
    response = api.get("/api/v1/context", {"identifier": identifier})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "identifier"
    assert Customer.objects.count() == 0


def test_context_by_unknown_customer_id_is_a_404(api):
    assert api.get("/api/v1/customers/00000000-0000-0000-0000-000000000000/context").status_code == 404


def test_context_requires_a_token(db):
    assert APIClient().get("/api/v1/context", {"identifier": "tel:+15551234567"}).status_code == 401


def test_agents_supervisors_and_integrations_may_read_context(api):
    post(api)
    for role in (Role.AGENT, Role.SUPERVISOR, Role.INTEGRATION):
        client = client_for(ApiTokenFactory(role=role))
        assert client.get("/api/v1/context", {"identifier": "tel:+15551234567"}).status_code == 200


def test_thread_timeline_is_ordered_by_occurrence_so_late_events_land_where_they_happened(api):
    first = post(api, time="2026-11-23T10:00:00Z", data={"channel": "sms", "text": "first"})
    post(api, time="2026-11-23T12:00:00Z", data={"channel": "sms", "text": "third"})
    post(api, time="2026-11-23T11:00:00Z", data={"channel": "chat", "text": "second, arrived late"})

    body = api.get(f"/api/v1/threads/{first['thread_id']}").json()

    assert [e["text"] for e in body["timeline"]] == ["first", "second, arrived late", "third"]
    assert body["timeline_count"] == 3 and body["next_offset"] is None


def test_thread_timeline_pages_with_limit_and_offset(api):
    first = post(api, time="2026-11-23T10:00:00Z", data={"channel": "sms", "text": "0"})
    for i in range(1, 5):
        post(api, time=f"2026-11-23T10:0{i}:00Z", data={"channel": "sms", "text": str(i)})

    page1 = api.get(f"/api/v1/threads/{first['thread_id']}", {"limit": 2}).json()
    page2 = api.get(
        f"/api/v1/threads/{first['thread_id']}", {"limit": 2, "offset": page1["next_offset"]}
    ).json()

    assert [e["text"] for e in page1["timeline"] + page2["timeline"]] == ["0", "1", "2", "3"]
    assert page2["next_offset"] == 4


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "1e3"}, "offset"),
        ({"status": ""}, "status"),
        ({"channel": ""}, "channel"),
    ],
)
def test_a_page_or_filter_out_of_its_range_is_a_400_naming_it_not_silently_the_default(api, query, field):
    """DRF's pagination fell back to its default for a bad limit, and read `?status=` as no filter: the
    client got an answer to another question than the one it asked."""
    response = api.get("/api/v1/threads", query)

    assert response.status_code == 400, response.content
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_threads_list_filters_by_customer_status_and_channel(api, supervisor_api):
    a = post(
        api, subject="tel:+15551234567", time="2026-11-23T10:00:00Z", data={"channel": "sms", "text": "a"}
    )
    b = post(
        api,
        subject="mailto:bob@example.com",
        time="2026-11-23T10:05:00Z",
        data={"channel": "email", "text": "b"},
    )
    supervisor_api.post(f"/api/v1/threads/{b['thread_id']}/resolve")

    def ids(**params):
        response = api.get("/api/v1/threads", params)
        assert response.status_code == 200, response.content
        return [t["id"] for t in response.json()["results"]]

    assert ids() == [b["thread_id"], a["thread_id"]]
    assert ids(customer=a["customer_id"]) == [a["thread_id"]]
    assert ids(status="resolved") == [b["thread_id"]]
    assert ids(channel="sms") == [a["thread_id"]]
    assert ids(channel="voice") == []


@pytest.mark.parametrize("params", [{"status": "sleeping"}, {"channel": "pigeon"}, {"customer": "nope"}])
def test_threads_list_with_a_bad_filter_is_a_400(api, params):
    response = api.get("/api/v1/threads", params)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] in params


def test_ids_in_paths_are_read_in_either_case(api, supervisor_api):
    placed = post(api, data={"channel": "sms", "text": "hello"})
    thread, customer = placed["thread_id"].upper(), placed["customer_id"].upper()

    assert api.get(f"/api/v1/threads/{thread}").json()["id"] == placed["thread_id"]
    assert api.get(f"/api/v1/customers/{customer}/context").json()["customer"]["id"] == placed["customer_id"]
    note = supervisor_api.post(f"/api/v1/threads/{thread}/notes", {"text": "seen"}, format="json")
    assert note.status_code == 201, note.content


def test_a_message_stamped_a_year_ahead_does_not_keep_its_thread_collecting_for_a_year(api, monkeypatch):
    """A sender's clock a year fast: the message counts as activity when it arrived, not a year on, so ten
    days later (past the 72 h window) the customer's next message opens a new thread."""
    arrived = timezone.now()
    ahead = (arrived + timedelta(days=365)).isoformat()
    first = post(api, time=ahead, data={"channel": "sms", "text": "my router is broken"})
    monkeypatch.setattr(timezone, "now", lambda: arrived + timedelta(days=10))

    again = post(api, time=None, data={"channel": "sms", "text": "a new question about my bill"})

    assert again["thread_id"] != first["thread_id"]
    thread = api.get(f"/api/v1/threads/{first['thread_id']}").json()
    assert thread["last_activity_at"] < ahead[:10]  # when it arrived, in the read model too
    assert_rebuild_gives_the_same_read_models()


def test_unknown_thread_is_a_404(api):
    assert api.get("/api/v1/threads/00000000-0000-0000-0000-000000000000").status_code == 404


def test_an_event_naming_an_unknown_thread_is_a_422_and_writes_nothing(api):
    post(api)
    before = log_snapshot()

    response = api.generic(
        "POST",
        "/api/v1/events",
        json.dumps(
            cloud_event(
                data={"channel": "sms", "text": "x", "thread_id": "00000000-0000-0000-0000-000000000001"}
            )
        ),
        content_type="application/cloudevents+json",
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"index": 0, "field": "data.thread_id", "message": "no thread 00000000-0000-0000-0000-000000000001"}
    ]
    assert log_snapshot() == before


def test_an_event_naming_another_customers_thread_is_a_422(api):
    theirs = post(api, subject="mailto:bob@example.com")
    before = log_snapshot()

    response = api.generic(
        "POST",
        "/api/v1/events",
        json.dumps(
            cloud_event(
                subject="tel:+15551234567",
                data={"channel": "sms", "text": "x", "thread_id": theirs["thread_id"]},
            )
        ),
        content_type="application/cloudevents+json",
    )

    assert response.status_code == 422
    assert "another customer" in response.json()["errors"][0]["message"]
    assert log_snapshot() == before
    assert Customer.objects.count() == 1  # no ghost customer for the rejected event


def test_a_batch_with_one_unknown_thread_writes_none_of_its_events(api):
    before = log_snapshot()
    events = [
        cloud_event(subject="tel:+15551234567"),
        cloud_event(
            data={"channel": "sms", "text": "x", "thread_id": "00000000-0000-0000-0000-000000000001"}
        ),
    ]

    response = api.generic(
        "POST", "/api/v1/events", json.dumps(events), content_type="application/cloudevents-batch+json"
    )

    assert response.status_code == 422
    assert [e["index"] for e in response.json()["errors"]] == [1]
    assert log_snapshot() == before
    assert Customer.objects.count() == 0


def test_reposting_an_event_creates_no_second_customer_or_thread(api):
    event = cloud_event(subject="chat:visitor-1", data={"channel": "chat", "text": "hi"})
    for _ in range(3):
        api.generic("POST", "/api/v1/events", json.dumps(event), content_type="application/cloudevents+json")

    from interactions.models import Thread

    assert Customer.objects.count() == 1 and Thread.objects.count() == 1


def test_context_shows_the_ten_latest_open_threads_and_the_five_latest_resolved_newest_first(api, agent_api):
    threads = [
        post(
            api,
            time=f"2026-11-23T09:{minute:02d}:00Z",
            data={"channel": "sms", "text": f"about t{minute}", "topic": f"t{minute}"},
        )["thread_id"]
        for minute in range(17)
    ]
    resolved_order = [
        threads[i] for i in (3, 0, 5, 1, 4, 2)
    ]  # resolved in this order, the last most recently
    for thread_id in resolved_order:
        response = agent_api.post(f"/api/v1/threads/{thread_id}/resolve", format="json")
        assert response.status_code == 201, response.content

    body = context(api, "tel:+15551234567")

    still_open = [t for t in threads if t not in resolved_order]  # oldest activity first
    assert [t["id"] for t in body["open_threads"]] == list(reversed(still_open))[:10]
    assert [t["id"] for t in body["recently_resolved"]] == list(reversed(resolved_order))[:5]
    assert {t["status"] for t in body["recently_resolved"]} == {"resolved"}
