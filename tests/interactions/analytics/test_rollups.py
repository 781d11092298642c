"""Survey reads sum the rollups: by day or week in UTC, whole UTC days from day rows and the hours before the
first midnight and after the last from hour rows; in any other zone, hours only. Every figure is worked out
by hand below, and the same answers read in a zone whose offset is 0 in November (London, so read by hour)
give the same days."""

from __future__ import annotations

import pytest

from interactions.analytics.models import SurveyRollup
from tests.interactions.analytics.test_surveys import ANN, BEN, by, measures, survey

pytestmark = pytest.mark.django_db

# From 20:30 on Friday the 20th (the hour of 20:00) up to 05:10 on Monday the 23rd (the hour of 05:00): the
# hours 20:00-23:00 of the 20th, the whole days 21st and 22nd, the hours 00:00-04:00 of the 23rd.
EDGES = {"from": "2026-11-20T20:30:00Z", "to": "2026-11-23T05:10:00Z"}


@pytest.fixture
def answers(api):
    """CSAT answers at either side of each edge of EDGES, Ann's for agent a-1 and Ben's for a-2."""
    survey(api, ANN, "2026-11-20T19:30:00Z", "csat", 1, agent_id="a-1")  # before the range's first hour
    survey(api, ANN, "2026-11-20T21:15:00Z", "csat", 5, agent_id="a-1")  # an hour before the first midnight
    survey(api, BEN, "2026-11-21T00:00:00Z", "csat", 4, agent_id="a-2")  # a whole day's first moment
    survey(api, ANN, "2026-11-21T23:59:00Z", "csat", 2, agent_id="a-1")  # and its last
    survey(api, BEN, "2026-11-22T12:00:00Z", "csat", 3, agent_id="a-2")
    survey(api, BEN, "2026-11-23T04:59:00Z", "csat", 4, agent_id="a-2")  # an hour after the last midnight
    survey(api, ANN, "2026-11-23T05:00:00Z", "csat", 1, agent_id="a-1")  # the hour `to` leaves out


def days(body: dict) -> list[tuple[str, int, float]]:
    return [(row["bucket"][:10], row["answers"], row["mean"]) for row in body["rows"]]


def test_a_utc_day_read_sums_whole_days_and_the_hours_at_either_edge(answers, supervisor_api):
    body = measures(supervisor_api, **EDGES)

    assert days(body) == [
        ("2026-11-20", 1, 5.0),  # 5 (21:15, an hour row)
        ("2026-11-21", 2, 3.0),  # 4 and 2 (a day row): 6 / 2
        ("2026-11-22", 1, 3.0),  # 3 (a day row)
        ("2026-11-23", 1, 4.0),  # 4 (04:59, an hour row); 05:00 is past `to`
    ]
    (total,) = body["totals"]
    # 5, 4, 2, 3, 4: mean 18 / 5 = 3.6; top 2 (4-5) three of five; bottom 2 (1-2) one of five.
    assert (total["answers"], total["mean"], total["top2_rate"], total["bottom2_rate"]) == (5, 3.6, 0.6, 0.2)
    assert total["distribution"] == {"1": 0, "2": 1, "3": 1, "4": 2, "5": 1}


def test_the_same_days_read_by_hour_in_london_in_november(answers, supervisor_api):
    utc = measures(supervisor_api, **EDGES)
    london = measures(supervisor_api, timezone="Europe/London", **EDGES)  # offset 0 until March

    assert (
        days(london)
        == days(utc)
        == [
            ("2026-11-20", 1, 5.0),
            ("2026-11-21", 2, 3.0),
            ("2026-11-22", 1, 3.0),
            ("2026-11-23", 1, 4.0),
        ]
    )
    assert london["totals"] == utc["totals"]


def test_weeks_in_utc_sum_day_rows_and_edge_hours_into_the_week_from_monday(answers, supervisor_api):
    body = measures(supervisor_api, granularity="week", **EDGES)

    assert days(body) == [
        ("2026-11-16", 4, 3.5),  # Friday 20th to Sunday 22nd: 5, 4, 2, 3 = 14 / 4
        ("2026-11-23", 1, 4.0),  # Monday 23rd: 4
    ]


def test_a_utc_day_read_by_agent(answers, supervisor_api):
    body = measures(supervisor_api, group_by="agent", **EDGES)

    assert [(row["bucket"][:10], row["group"], row["answers"]) for row in body["rows"]] == [
        ("2026-11-20", "a-1", 1),  # 5
        ("2026-11-21", "a-1", 1),  # 2
        ("2026-11-21", "a-2", 1),  # 4
        ("2026-11-22", "a-2", 1),  # 3
        ("2026-11-23", "a-2", 1),  # 4
    ]
    (one,) = by(body["totals"], group="a-1")
    (two,) = by(body["totals"], group="a-2")
    assert (one["answers"], one["mean"]) == (2, 3.5)  # 5 and 2
    assert (two["answers"], two["mean"]) == (3, 3.6667)  # 4, 3 and 4: 11 / 3


def test_a_read_within_one_utc_day_reads_hours_only(answers, supervisor_api):
    body = measures(supervisor_api, **{"from": "2026-11-21T00:00:00Z", "to": "2026-11-21T23:00:00Z"})

    assert days(body) == [("2026-11-21", 1, 4.0)]  # 00:00's 4; 23:59's 2 is in the hour `to` leaves out


def test_each_answer_counts_once_in_ten_rollups(api):
    survey(api, ANN, "2026-11-20T21:15:00Z", "nps", 9, agent_id="a-1", topic="billing")
    survey(api, BEN, "2026-11-20T21:40:00Z", "nps", 3, channel="chat", agent_id="a-1")

    rows = SurveyRollup.objects.filter(metric="nps")
    # Per answer: hour and day, each over all answers and per channel, agent, topic and segment: 10 rows.
    # The two share the rows of all answers, of agent a-1 and of the blank segment (3 per period: 6) and
    # differ in channel (sms, chat) and topic (billing, blank): 2 + 2 per period, 8. 6 + 8 = 14 rows.
    assert rows.count() == 14
    for period in ("hour", "day"):
        (everyone,) = rows.filter(period=period, dimension="")
        assert (everyone.score_9, everyone.score_3, everyone.score_10) == (1, 1, 0)
        (agent,) = rows.filter(period=period, dimension="agent_id", value="a-1")
        assert (agent.score_9, agent.score_3) == (1, 1)
        (chat,) = rows.filter(period=period, dimension="channel", value="chat")
        assert (chat.score_9, chat.score_3) == (0, 1)
    assert rows.get(period="day", dimension="").start.isoformat() == "2026-11-20T00:00:00+00:00"
    assert rows.get(period="hour", dimension="").start.isoformat() == "2026-11-20T21:00:00+00:00"
