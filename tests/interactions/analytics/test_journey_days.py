"""Journeys read from day rows: every step and transition is counted in its UTC hour's row and its UTC day's.
A read by day or week in UTC sums whole UTC days from day rows and the hours at either edge from hour rows,
and a read's transitions always do (they are summed over its range); in any other zone steps come from hour
rows only. The hand-built journeys of test_journeys.py, read over ranges whose edges fall inside a day; each
figure is worked out by hand below, and London in November (offset 0, so read from hour rows) must agree."""

from __future__ import annotations

import pytest

from interactions.analytics.models import StepHour, TransitionHour
from tests.interactions.analytics.test_journeys import JOURNEYS, STEPS, clock, journeys  # noqa: F401
from tests.interactions.analytics.test_surveys import measures

pytestmark = pytest.mark.django_db

# From noon on the 19th to 15:00 on the 23rd: the edge hours 12:00-23:00 of the 19th (nothing), the whole days
# 20th to 22nd (all of Ann's, Ben's and Cal's contacts, on the 20th) and the hours 00:00-14:00 of the 23rd
# (Cal's thread idled at 14:00).
ALL = {"from": "2026-11-19T12:00:00Z", "to": "2026-11-23T15:00:00Z"}
# From 10:00 on the 20th (after Ann's last contact, 09:30) to 14:00 on the 23rd (the hour Cal's thread idled
# in is left out): only Ben's and Cal's contacts, all in edge hours of the 20th; the 21st and 22nd are whole
# days with nothing in them.
BEN_AND_CAL = {"from": "2026-11-20T10:00:00Z", "to": "2026-11-23T14:00:00Z"}


def figures(body: dict) -> tuple[dict, dict, list]:
    steps = {t["step"]: {k: v for k, v in t.items() if k not in ("group", "step")} for t in body["totals"]}
    moves = {(t["from"], t["to"]): t["transitions"] for t in body["transitions"]}
    days = sorted((r["bucket"][:10], r["step"], r["entries"], r["dead_ends"]) for r in body["rows"])
    return steps, moves, days


def test_every_step_and_transition_counts_in_its_hour_and_its_day(journeys):  # noqa: F811
    for model, count in ((StepHour, "entries"), (TransitionHour, "transitions")):
        hours = model.objects.filter(period="hour")
        days = model.objects.filter(period="day")
        assert sum(getattr(row, count) for row in hours) == sum(getattr(row, count) for row in days) == 6
        assert {row.hour.hour for row in days} == {0}  # a day row starts at its UTC midnight
        assert {row.hour.date() for row in days} == {row.hour.date() for row in hours}


def test_a_utc_read_with_edges_inside_days_counts_everything_once(journeys, supervisor_api):  # noqa: F811
    utc = measures(supervisor_api, path=JOURNEYS, **ALL)
    london = measures(supervisor_api, path=JOURNEYS, timezone="Europe/London", **ALL)

    steps, moves, days = figures(utc)
    assert steps == STEPS  # worked out by hand in test_journeys.py: each counted once, not twice
    assert moves == {
        ("start", "chat:self-service"): 1,
        ("chat:self-service", "voice"): 1,
        ("start", "sms"): 1,
        ("sms", "whatsapp"): 1,
        ("start", "voice"): 1,
        ("voice", "sms"): 1,
    }
    assert days == [
        ("2026-11-20", "chat:self-service", 1, 0),
        ("2026-11-20", "sms", 2, 2),  # Ben's and Cal's unanswered texts
        ("2026-11-20", "voice", 2, 1),  # Cal's missed call
        ("2026-11-20", "whatsapp", 1, 0),
        ("2026-11-23", "sms", 0, 1),  # Cal's thread idled, an edge hour of the 23rd
    ]
    assert figures(london) == (steps, moves, days)


def test_a_utc_read_leaves_out_the_day_rows_of_its_edge_days(journeys, supervisor_api):  # noqa: F811
    body = measures(supervisor_api, path=JOURNEYS, **BEN_AND_CAL)
    london = measures(supervisor_api, path=JOURNEYS, timezone="Europe/London", **BEN_AND_CAL)

    steps, moves, days = figures(body)
    # Ben: sms, then whatsapp (answered at 12:00, past the SLA); Cal: a missed call, then an unanswered text.
    assert {step: (s["entries"], s["dead_ends"]) for step, s in steps.items()} == {
        "sms": (2, 2),  # Ben's text and Cal's, both unanswered past the SLA (Cal's idling is past `to`)
        "voice": (1, 1),  # Cal's missed call
        "whatsapp": (1, 0),
    }
    assert moves == {("start", "sms"): 1, ("sms", "whatsapp"): 1, ("start", "voice"): 1, ("voice", "sms"): 1}
    assert days == [
        ("2026-11-20", "sms", 2, 2),
        ("2026-11-20", "voice", 1, 1),
        ("2026-11-20", "whatsapp", 1, 0),
    ]
    assert figures(london) == (steps, moves, days)


def test_a_week_in_utc_sums_day_rows_into_the_week_from_monday(journeys, supervisor_api):  # noqa: F811
    body = measures(supervisor_api, path=JOURNEYS, granularity="week", **ALL)

    weeks = {(r["bucket"][:10], r["step"]): r["entries"] for r in body["rows"] if r["entries"]}
    assert weeks == {  # Friday the 20th is in the week from Monday the 16th
        ("2026-11-16", "chat:self-service"): 1,
        ("2026-11-16", "sms"): 2,
        ("2026-11-16", "voice"): 2,
        ("2026-11-16", "whatsapp"): 1,
    }
    assert [(r["bucket"][:10], r["step"], r["idled"]) for r in body["rows"] if r["idled"]] == [
        ("2026-11-23", "sms", 1)  # Monday the 23rd: a week of its own
    ]
