"""Measures at their edges: zones whose offset is not whole hours, the hour clocks go back, a topic a later
event gives a thread, a thread with no message or call, messages that arrive out of order, odd parameters."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.renderers import JSONRenderer

from interactions.api.analytics import MeasuresJSONRenderer
from interactions.models import Role
from tests.conftest import client_for
from tests.factories import ApiTokenFactory
from tests.interactions.analytics.test_surveys import ANN, BEN, SURVEYS, measures, survey
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db
HANDLING = "/api/v1/analytics/handling"
NOV_20 = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"}


def test_in_a_half_hour_zone_a_day_starts_at_the_utc_hour_its_midnight_falls_in(api, supervisor_api):
    # Asia/Kolkata is UTC+05:30: its midnight of the 20th is 18:30Z on the 19th, in the UTC hour 18:00.
    survey(api, ANN, "2026-11-19T18:15:00Z", "csat", 5)
    survey(api, BEN, "2026-11-19T17:59:00Z", "csat", 1)
    body = measures(supervisor_api, metric="csat", timezone="Asia/Kolkata",
                    **{"from": "2026-11-19T00:00:00Z", "to": "2026-11-21T00:00:00Z"})  # fmt: skip
    assert [(r["bucket"], r["answers"]) for r in body["rows"]] == [
        ("2026-11-19T00:00:00+05:30", 1),
        ("2026-11-20T00:00:00+05:30", 1),
    ]


def test_in_a_half_hour_zone_an_hour_bucket_says_the_hour_it_holds(api, supervisor_api):
    survey(api, ANN, "2026-11-19T18:15:00Z", "csat", 5)
    body = measures(supervisor_api, metric="csat", timezone="Asia/Kolkata", granularity="hour",
                    **{"from": "2026-11-19T18:00:00Z", "to": "2026-11-19T19:00:00Z"})  # fmt: skip
    assert [r["bucket"] for r in body["rows"]] == ["2026-11-19T23:30:00+05:30"]  # 18:00Z


def test_when_clocks_go_back_the_two_hours_of_01_00_are_two_buckets(api, supervisor_api):
    # America/New_York on 2026-11-01: 05:00Z is 01:00 EDT, 06:00Z is 01:00 EST.
    survey(api, ANN, "2026-11-01T05:10:00Z", "csat", 5)
    survey(api, BEN, "2026-11-01T06:10:00Z", "csat", 1)
    body = measures(supervisor_api, metric="csat", timezone="America/New_York", granularity="hour",
                    **{"from": "2026-11-01T04:00:00Z", "to": "2026-11-01T08:00:00Z"})  # fmt: skip
    assert [(r["bucket"], r["answers"]) for r in body["rows"]] == [
        ("2026-11-01T01:00:00-04:00", 1),
        ("2026-11-01T01:00:00-05:00", 1),
    ]
    day = measures(supervisor_api, metric="csat", timezone="America/New_York",
                   **{"from": "2026-11-01T04:00:00Z", "to": "2026-11-02T05:00:00Z"})  # fmt: skip
    assert [(r["bucket"], r["answers"]) for r in day["rows"]] == [("2026-11-01T00:00:00-04:00", 2)]


def test_a_topic_a_later_message_gives_the_thread_is_its_topic(api, supervisor_api):
    thread = post(api, subject=ANN, time="2026-11-20T09:00:00Z", data={"channel": "sms", "text": "hello"})
    later = post(api, subject=ANN, time="2026-11-20T09:05:00Z",
                 data={"channel": "sms", "text": "my bill", "topic": "billing"})  # fmt: skip
    assert later["thread_id"] == thread["thread_id"]
    survey(api, ANN, "2026-11-20T09:30:00Z", "csat", 5)  # no topic of its own: its thread's
    body = measures(supervisor_api, metric="csat", group_by="topic", **NOV_20)
    assert [(r["group"], r["answers"]) for r in body["totals"]] == [("billing", 1)]


def test_a_thread_with_no_message_or_call_is_no_digital_handling(api, supervisor_api):
    agent = ApiTokenFactory(role=Role.AGENT)
    thread = survey(api, ANN, "2026-11-20T09:30:00Z", "csat", 5)["thread_id"]  # a survey answer opens it
    assigned = supervisor_api.post(
        f"/api/v1/threads/{thread}/assign", {"agent_id": str(agent.pk)}, format="json"
    )
    assert assigned.status_code == 201
    assert supervisor_api.post(f"/api/v1/threads/{thread}/resolve").status_code == 201
    (row,) = measures(supervisor_api, HANDLING)["totals"]
    assert (row["resolutions"], row["digital_handled"]) == (1, 0)


def test_first_response_is_timed_from_the_customers_first_message_not_the_first_to_arrive(
    api, supervisor_api
):
    sms = {"channel": "sms"}
    one = post(api, subject=ANN, time="2026-11-20T09:05:00Z", data={**sms, "text": "second, arrives first"})
    two = post(api, subject=ANN, time="2026-11-20T09:00:00Z", data={**sms, "text": "first, arrives late"})
    assert one["thread_id"] == two["thread_id"]
    post(api, subject=ANN, type="message.sent", time="2026-11-20T09:10:00Z", data={**sms, "text": "answer"})
    (row,) = measures(supervisor_api, HANDLING, **NOV_20)["totals"]
    assert (row["first_responses"], row["first_response_seconds"]) == (1, 600.0)


def test_a_refusal_asked_for_as_csv_is_problem_json():
    agent = client_for(ApiTokenFactory(role=Role.AGENT))
    response = agent.get(SURVEYS, {"format": "csv"}, HTTP_ACCEPT="text/csv")
    assert (response.status_code, response["Content-Type"]) == (403, "application/problem+json")


def test_options_is_json_whatever_the_format_asked(supervisor_api):
    response = supervisor_api.options(SURVEYS + "?format=csv")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json()["name"]


def test_an_old_from_alone_is_refused_naming_from(supervisor_api):
    response = supervisor_api.get(SURVEYS, {"from": "2020-01-01T00:00:00Z"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "from"


ODD = [
    {"from": "2026-11-20T24:00:00Z"},
    {"from": "2026-11-20T00:00:60Z"},
    {"to": "1970-01-01T00:00:00Z"},
    {"to": "1970-01-01T01:00:00Z", "granularity": "week", "timezone": "Pacific/Kiritimati"},
    {"to": "1970-01-01T01:00:00Z", "granularity": "week", "timezone": "Pacific/Pago_Pago"},
    {"to": "2199-12-31T23:59:59Z", "granularity": "week", "timezone": "Pacific/Kiritimati"},
    {"from": "2199-12-31T22:00:00Z", "to": "2199-12-31T23:59:59.999999Z", "timezone": "Pacific/Kiritimati"},
    {"from": "2026-11-20T00:00:00+23:59"},
    {"from": "2026-11-20T00:00:00-23:59"},
    {"from": "2026-11-20T00:00"},
    {"timezone": "posix/Asia/Kolkata"},
    {"timezone": "Etc/GMT+12"},
    {"timezone": "Etc/GMT-14", "granularity": "hour"},
    {"min_position": "-1"},
    {"min_position": "99999999999999999999"},
    {"min_position": "1e3"},
    {"metric": "NPS"},
    {"format": "CSV"},
    {"format": "api"},
    {"timezone": "UTC\n"},
    {"timezone": " UTC "},
    {"timezone": "Europe/Paris", "group_by": "segment", "format": "csv"},
]


@pytest.mark.parametrize("path", [SURVEYS, HANDLING, "/api/v1/analytics/effort"])
@pytest.mark.parametrize("query", ODD, ids=[str(q) for q in ODD])
def test_odd_parameters_are_an_answer_or_a_400_never_a_500(supervisor_api, path, query):
    response = supervisor_api.get(path, query)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response["Content-Type"] == "application/problem+json"


def test_a_measure_is_the_json_drf_would_write_byte_for_byte(api, supervisor_api):
    # A topic with what JSON writers disagree on: non-ASCII, a quote, a backslash, control characters and the
    # two line separators (DRF escapes them); and means that are not whole numbers.
    topic = 'Zürich "\\ \x01\u2028\u2029 €'
    for score in (5, 4, 4):
        survey(api, ANN, "2026-11-20T09:00:00Z", "csat", score, topic=topic)
    response = supervisor_api.get(SURVEYS, {**NOV_20, "group_by": "topic"})

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.content == JSONRenderer().render(response.json())
    assert b"\\u2028\\u2029" in response.content and "Zürich".encode() in response.content
    (total,) = response.json()["totals"]
    assert (total["group"], total["mean"]) == (topic, 4.3333)


def test_json_that_orjson_would_not_write_is_drfs():
    rendered = MeasuresJSONRenderer().render({"n": 2**70, 1: Decimal("1.5")})
    assert (
        rendered
        == JSONRenderer().render({"n": 2**70, 1: Decimal("1.5")})
        == b'{"n":1180591620717411303424,"1":1.5}'
    )
    indented = MeasuresJSONRenderer().render({"a": 1}, "application/json; indent=2", {})
    assert indented == b'{\n  "a": 1\n}'
