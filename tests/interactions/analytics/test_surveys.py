"""Survey measures: a hand-built set of answers whose every figure is worked out by hand below, read back over
the API by bucket, group and zone, as CSV, and refused clearly when the question is wrong."""

from __future__ import annotations

import csv
import gc
import io
import json
import weakref
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIRequestFactory

from interactions.analytics.measures import SURVEY_LINES, survey_figures
from interactions.analytics.models import SurveyRollup
from interactions.analytics.selectors import GROUPS, Range, survey_measures, survey_table
from interactions.api.analytics import CsvRenderer, SurveyMeasuresView
from interactions.catalogue.schemas import SURVEY_RANGES
from interactions.models import Role
from tests.conftest import client_for
from tests.factories import ApiTokenFactory
from tests.interactions.helpers import post

pytestmark = pytest.mark.django_db

ANN, BEN, CAL = "tel:+15550000001", "tel:+15550000002", "tel:+15550000003"
SURVEYS = "/api/v1/analytics/surveys"
DAY = {"from": "2026-11-20T00:00:00Z", "to": "2026-11-22T00:00:00Z"}


def survey(api, who: str, at: str, metric: str, score: int, channel: str = "sms", **data) -> dict:
    return post(
        api,
        type="survey.answered",
        subject=who,
        time=at,
        data={"channel": channel, "metric": metric, "score": score, **data},
    )


@pytest.fixture
def journey(api, supervisor_api):
    """Ann (segment gold) writes about billing; her thread is assigned to an agent; she answers CSAT 5 and 2
    on it, then becomes platinum and answers CES 7. Ben (no segment) answers CSAT 1 on chat and NPS 8. Cal
    answers CSAT 4 by e-mail late on the 20th (UTC), NPS 3 and 6, and CES 2. Ann gives NPS 10, 9 and 10."""
    agent = ApiTokenFactory(role=Role.AGENT)
    post(api, subject=ANN, type="customer.profile_updated", time="2026-11-20T08:00:00Z",
         data={"segment": "gold"})  # fmt: skip
    thread = post(api, subject=ANN, time="2026-11-20T09:10:00Z",
                  data={"channel": "sms", "text": "my bill", "topic": "billing"})["thread_id"]  # fmt: skip
    assigned = supervisor_api.post(
        f"/api/v1/threads/{thread}/assign", {"agent_id": str(agent.pk)}, format="json"
    )
    assert assigned.status_code == 201, assigned.content
    survey(api, ANN, "2026-11-20T09:30:00Z", "csat", 5)
    survey(api, ANN, "2026-11-20T10:15:00Z", "csat", 2)
    survey(api, BEN, "2026-11-20T09:45:00Z", "csat", 1, channel="chat")
    survey(api, CAL, "2026-11-20T23:30:00Z", "csat", 4, channel="email")
    survey(api, ANN, "2026-11-21T09:00:00Z", "nps", 10)
    survey(api, BEN, "2026-11-21T09:05:00Z", "nps", 8, channel="chat")
    survey(api, CAL, "2026-11-21T09:10:00Z", "nps", 3, channel="email")
    survey(api, CAL, "2026-11-21T10:00:00Z", "nps", 6, channel="email")
    survey(api, ANN, "2026-11-21T11:00:00Z", "nps", 9)
    survey(api, ANN, "2026-11-21T12:00:00Z", "nps", 10)
    post(api, subject=ANN, type="customer.profile_updated", time="2026-11-21T13:00:00Z",
         data={"segment": "platinum"})  # fmt: skip
    survey(api, ANN, "2026-11-21T14:00:00Z", "ces", 7)
    survey(api, CAL, "2026-11-21T15:00:00Z", "ces", 2, channel="email")
    return {"agent": str(agent.pk), "thread": thread}


def measures(client, path: str = SURVEYS, **query) -> dict:
    response = client.get(path, query)
    assert response.status_code == 200, response.content
    return response.json()


def by(rows: list[dict], **match) -> list[dict]:
    return [row for row in rows if all(row[k] == v for k, v in match.items())]


def test_totals_by_hand_csat_nps_and_ces(journey, supervisor_api):
    body = measures(supervisor_api, **DAY)

    assert body["from"] == "2026-11-20T00:00:00Z" and body["to"] == "2026-11-22T00:00:00Z"
    assert body["granularity"] == "day" and body["timezone"] == "UTC" and body["group_by"] is None
    (csat,) = by(body["totals"], metric="csat")
    # 5, 2, 1, 4: mean 12/4; top 2 (4-5) two of four; bottom 2 (1-2) two of four.
    assert csat == {
        "group": None, "metric": "csat", "answers": 4,
        "distribution": {"1": 1, "2": 1, "3": 0, "4": 1, "5": 1},
        "mean": 3.0, "top2_rate": 0.5, "bottom2_rate": 0.5,
    }  # fmt: skip
    (nps,) = by(body["totals"], metric="nps")
    # 10, 8, 3, 6, 9, 10: promoters (9-10) 3, passives (7-8) 1, detractors (0-6) 2 of 6.
    # NPS = 100 * (3 - 2) / 6 = 16.67; mean 46/6 = 7.6667; bottom 2 (0-1) none.
    assert nps["answers"] == 6
    assert nps["distribution"] == {str(s): n for s, n in enumerate([0, 0, 0, 1, 0, 0, 1, 0, 1, 1, 2])}
    assert (nps["promoters_rate"], nps["passives_rate"], nps["detractors_rate"]) == (0.5, 0.1667, 0.3333)
    assert nps["nps"] == 16.67 and nps["mean"] == 7.6667
    assert (nps["top2_rate"], nps["bottom2_rate"]) == (0.5, 0.0)
    (ces,) = by(body["totals"], metric="ces")
    # 7 and 2 on CES 2.0's scale (7: easiest): one top-2 (6-7), one bottom-2 (1-2).
    assert (ces["answers"], ces["mean"], ces["top2_rate"], ces["bottom2_rate"]) == (2, 4.5, 0.5, 0.5)
    assert "nps" not in ces


def test_daily_buckets_in_utc_and_in_a_zone(journey, supervisor_api):
    utc = measures(supervisor_api, metric="csat", **DAY)
    assert [(r["bucket"], r["answers"]) for r in utc["rows"]] == [("2026-11-20T00:00:00Z", 4)]

    # In Tokyo (UTC+9) Cal's 23:30 UTC answer is on the 21st, the others on the 20th (09:30-10:15 UTC is
    # 18:30-19:15 there); the range still covers the same UTC hours.
    tokyo = measures(supervisor_api, metric="csat", timezone="Asia/Tokyo", **DAY)
    assert [(r["bucket"], r["answers"], r["mean"]) for r in tokyo["rows"]] == [
        ("2026-11-20T00:00:00+09:00", 3, 2.6667),  # 5, 2, 1
        ("2026-11-21T00:00:00+09:00", 1, 4.0),
    ]
    assert tokyo["timezone"] == "Asia/Tokyo"


def test_hourly_buckets_and_the_range_by_whole_hours(journey, supervisor_api):
    body = measures(
        supervisor_api,
        metric="csat",
        granularity="hour",
        **{"from": "2026-11-20T09:59:59Z", "to": "2026-11-20T10:30:00Z"},
    )
    # Both ends rounded down to the hour: the hour 09:00 up to, not including, 10:00.
    assert body["from"] == "2026-11-20T09:00:00Z" and body["to"] == "2026-11-20T10:00:00Z"
    assert [(r["bucket"], r["answers"]) for r in body["rows"]] == [("2026-11-20T09:00:00Z", 2)]


def test_a_read_covers_a_whole_month_by_hour_and_two_years_by_day(supervisor_api):
    month = {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z", "granularity": "hour"}
    assert supervisor_api.get(SURVEYS, month).status_code == 200  # 744 hours
    years = {"from": "2024-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z", "granularity": "day"}
    assert supervisor_api.get(SURVEYS, years).status_code == 200  # 732 days
    assert supervisor_api.get(SURVEYS, {**years, "to": "2026-01-02T01:00:00Z"}).status_code == 400


def test_weekly_buckets_start_on_monday(journey, supervisor_api):
    body = measures(supervisor_api, granularity="week", metric="nps", **DAY)
    assert [(r["bucket"], r["answers"]) for r in body["rows"]] == [("2026-11-16T00:00:00Z", 6)]


@pytest.mark.parametrize(
    ("group_by", "metric", "expected"),
    [
        ("channel", "csat", {"chat": [1], "email": [4], "sms": [5, 2]}),
        ("segment", "csat", {None: [1, 4], "gold": [5, 2]}),
        # The segment an answer is counted in is the customer's when they gave it: Ann's CES came after
        # she became platinum, her NPS before.
        ("segment", "ces", {None: [2], "platinum": [7]}),
        ("topic", "csat", {None: [1, 4], "billing": [5, 2]}),
    ],
)
def test_grouped_by_a_dimension(journey, supervisor_api, group_by, metric, expected):
    body = measures(supervisor_api, group_by=group_by, metric=metric, **DAY)
    got = {row["group"]: row["answers"] for row in body["totals"]}
    assert got == {group: len(scores) for group, scores in expected.items()}
    for group, scores in expected.items():
        (row,) = by(body["totals"], group=group)
        assert row["mean"] == round(sum(scores) / len(scores), 4)


def test_grouped_by_agent_counts_the_threads_agent(journey, supervisor_api):
    body = measures(supervisor_api, group_by="agent", metric="csat", **DAY)
    assert {row["group"]: row["answers"] for row in body["totals"]} == {journey["agent"]: 2, None: 2}


def test_the_answers_own_agent_and_topic_win_over_the_threads(journey, api, supervisor_api):
    survey(api, ANN, "2026-11-21T16:00:00Z", "csat", 3, agent_id="someone-else", topic="refunds")
    body = measures(supervisor_api, group_by="topic", metric="csat", **DAY)
    assert by(body["totals"], group="refunds")[0]["distribution"]["3"] == 1
    body = measures(supervisor_api, group_by="agent", metric="csat", **DAY)
    assert by(body["totals"], group="someone-else")[0]["answers"] == 1


def test_an_answer_stamped_ahead_of_its_arrival_counts_when_it_arrived(api, supervisor_api):
    survey(api, ANN, "2199-01-01T00:00:00Z", "csat", 5)  # a sender's clock far ahead
    body = measures(supervisor_api, granularity="week")  # the last 7 days, to the end of this hour
    assert by(body["totals"], metric="csat")[0]["answers"] == 1


def test_csv_export_has_every_figure_and_total(journey, supervisor_api):
    response = supervisor_api.get(SURVEYS, {"format": "csv", "group_by": "channel", **DAY})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    totals = {(r["group"], r["metric"]): r for r in lines if r["bucket"] == "total"}
    assert totals[("sms", "nps")]["nps"] == "100.0"  # Ann's 10, 9, 10: all promoters
    assert totals[("email", "nps")]["detractors_rate"] == "1.0"  # Cal's 3 and 6
    assert totals[("email", "nps")]["nps"] == "-100.0"
    assert totals[("chat", "nps")]["passives_rate"] == "1.0" and totals[("chat", "nps")]["nps"] == "0.0"
    assert totals[("chat", "csat")]["score_1"] == "1" and totals[("chat", "csat")]["score_5"] == "0"
    days = [r for r in lines if r["bucket"] != "total"]
    assert {r["bucket"] for r in days} == {"2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"}

    by_accept = supervisor_api.get(SURVEYS, DAY, HTTP_ACCEPT="text/csv")
    assert by_accept.content == supervisor_api.get(SURVEYS, {"format": "csv", **DAY}).content


def test_csv_cells_a_spreadsheet_would_run_are_written_as_text(api, supervisor_api):
    survey(api, ANN, "2026-11-20T09:30:00Z", "csat", 5, topic='=HYPERLINK("http://x")')
    response = supervisor_api.get(SURVEYS, {"format": "csv", "group_by": "topic", **DAY})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][1] == '\'=HYPERLINK("http://x")'


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"from": "2026-11-20T10:00:00Z", "to": "2026-11-20T10:59:00Z"}, "from"),  # the same hour
        ({"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"}, "from"),
        ({"granularity": "minute"}, "granularity"),
        ({"granularity": "hour", "from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to"),
        ({"granularity": "day", "from": "2020-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, "to"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "localtime"}, "timezone"),
        ({"group_by": "mood"}, "group_by"),
        ({"metric": "nss"}, "metric"),
        ({"group_by": ""}, "group_by"),
        ({"from": "1969-12-31T23:00:00Z"}, "from"),
        ({"to": "9999-12-31T23:00:00+14:00"}, "to"),
    ],
)
def test_a_wrong_question_is_a_problem_naming_the_field(supervisor_api, query, field):
    response = supervisor_api.get(SURVEYS, query)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]


def test_a_problem_asked_for_as_csv_is_still_problem_json(supervisor_api):
    response = supervisor_api.get(SURVEYS, {"format": "csv", "granularity": "minute"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "granularity"


@pytest.mark.parametrize("role", [Role.AGENT, Role.INTEGRATION])
def test_only_supervisors_and_admins_read_measures(role):
    token = ApiTokenFactory(role=role, source_prefix="/x/" if role == Role.INTEGRATION else "")
    response = client_for(token).get(SURVEYS)
    assert response.status_code == 403
    assert "experience measures" in response.json()["detail"]
    admin = client_for(ApiTokenFactory(role=Role.ADMIN))
    assert admin.get(SURVEYS).status_code == 200


# Answers per score: mostly a handful (ties and halves in the rates), sometimes none, sometimes millions.
ANSWERS = st.lists(st.one_of(st.integers(0, 4), st.integers(0, 10**7)), min_size=11, max_size=11)


@pytest.mark.parametrize("metric", sorted(SURVEY_LINES))
@given(scores=ANSWERS, group=st.sampled_from([None, "agent-7", "=HYPERLINK()"]))
@example(scores=[0] * 11, group="agent-7")  # no answer on the scale: every figure null
@example(scores=[5] + [0] * 10, group=None)  # only a 0, which only NPS's scale has
def test_a_line_of_each_metric_is_its_bucket_group_and_survey_figures(metric, scores, group):
    # What a read writes for a bucket, with the scale written out for speed, is the definition's figures in
    # the definition's order: the same JSON text, so the same bytes on the wire.
    line = SURVEY_LINES[metric]("2026-11-20T00:00:00Z", group, *scores)
    expected = {"bucket": "2026-11-20T00:00:00Z", "group": group, **survey_figures(metric, scores)}
    assert json.dumps(line) == json.dumps(expected)


@pytest.mark.parametrize("answer", ["json", "csv"])
def test_a_read_is_freed_once_let_go_without_the_garbage_collector(journey, supervisor_token, answer):
    # DRF's response refers to itself and to its view, which refers to it: a cycle that kept a long read's
    # figures alive until the next collections, which walked them. The view lets go of both once rendered.
    request = APIRequestFactory().get(
        SURVEYS,
        {**DAY, "group_by": "agent", "format": answer},
        HTTP_AUTHORIZATION=f"Bearer {supervisor_token.raw}",
    )
    gc.collect()
    gc.disable()
    try:
        response = SurveyMeasuresView.as_view()(request)
        assert response.status_code == 200 and b"csat" in response.content
        freed = weakref.ref(response)
        del response
        assert freed() is None
    finally:
        gc.enable()


# Rollup rows as the projection writes them: an hour of one metric (and its UTC day's row, their sum), of
# all answers or of one value of one dimension, with answers only on the metric's scale (sometimes none).
# Values include blank (not known), one a spreadsheet would run, and one with a comma and quotes.
ROLLUP = st.tuples(
    st.integers(0, 24 * 9),
    st.sampled_from(sorted(SURVEY_RANGES)),
    st.sampled_from(["", *GROUPS.values()]),
    st.sampled_from(["", "agent-7", "=HYPERLINK()", '-1, "quoted"', "-2"]),
    st.lists(st.one_of(st.integers(0, 3), st.integers(0, 10**6)), min_size=11, max_size=11),
)
AT = datetime(2026, 3, 26, tzinfo=UTC)  # the week Europe's clocks go forward


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rollups=st.lists(ROLLUP, max_size=25),
    granularity=st.sampled_from(["hour", "day", "week"]),
    zone=st.sampled_from(["UTC", "Europe/London", "Asia/Kolkata"]),
    group_by=st.sampled_from([None, *GROUPS]),
    metric=st.sampled_from([None, *sorted(SURVEY_RANGES)]),
    hours=st.tuples(st.integers(0, 24 * 3), st.integers(1, 24 * 7)),
)
def test_the_csv_of_a_survey_read_is_its_json_read_written_as_csv(
    rollups, granularity, zone, group_by, metric, hours
):
    # CSV is built straight from the summed rows (survey_table), not from the JSON's dicts; it must say
    # exactly what the JSON does, written as every other measure's CSV is written from its JSON.
    SurveyRollup.objects.all().delete()
    summed: dict[tuple, list[int]] = defaultdict(lambda: [0] * 11)
    for hour, m, dimension, value, scores in rollups:
        low, high = SURVEY_RANGES[m]
        start = AT + timedelta(hours=hour)
        # An hour row, and its answers in its UTC day's row too, as the projection counts them.
        for period, begins in (("hour", start), ("day", start.replace(hour=0))):
            row = summed[period, begins, m, dimension, value if dimension else ""]
            for score in range(low, high + 1):
                row[score] += scores[score]
    SurveyRollup.objects.bulk_create(
        # One row per period, start, metric and value of a dimension, as the projection's key makes them.
        SurveyRollup(key=f"{period} {start} {m} {dimension} {value}", period=period, start=start, metric=m,
                     dimension=dimension, value=value, **{f"score_{n}": c for n, c in enumerate(scores)})
        for (period, start, m, dimension, value), scores in summed.items()
    )  # fmt: skip
    start = AT + timedelta(hours=hours[0])
    span = Range.of(start=start, end=start + timedelta(hours=hours[1]), granularity=granularity, zone=zone,
                    group_by=group_by)  # fmt: skip
    table = CsvRenderer().render(survey_table(span, metric=metric))
    assert table == CsvRenderer().render(survey_measures(span, metric=metric))
