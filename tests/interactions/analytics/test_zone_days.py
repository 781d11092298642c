"""Survey reads by day or week in any zone take whole UTC days from day rows, and correct each by the hours of
it that fall in another local day or week (its spill): added to their own bucket, taken off the day's. What
they answer must be what summing every hour into the bucket its last moment falls in answers, which the
oracle here works out in Python from the answers themselves, with the standard library's zoneinfo: across
clocks going forward and back, zones a half or three quarters of an hour off, a day skipped at midnight and
zones twelve or more hours from UTC."""

from __future__ import annotations

import shutil
import subprocess
import zoneinfo
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from interactions.analytics.models import SurveyRollup
from interactions.analytics.selectors import Range, _days, survey_measures, survey_statement
from interactions.catalogue.schemas import SURVEY_RANGES

pytestmark = pytest.mark.django_db

ZONES = [
    "UTC",
    "Europe/London",  # +0 and +1, changing at 01:00 UTC
    "America/New_York",  # -5 and -4
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "America/St_Johns",  # -03:30 and -02:30
    "Australia/Lord_Howe",  # +11 and +10:30: clocks change by half an hour
    "Pacific/Chatham",  # +13:45 and +12:45
    "Pacific/Kiritimati",  # +14
    "Pacific/Pago_Pago",  # -11
    "Europe/Paris",  # +1 and +2: one or two hours of each UTC day are the next local day's
    "America/Sao_Paulo",  # -3: three are the day before's
    "Asia/Tokyo",  # +9: nine are, more than a day row is worth correcting
    "America/Santiago",  # clocks change at local midnight
    "America/Havana",  # and go back from 01:00 to midnight
    "Asia/Beirut",  # and from midnight back to 23:00 the day before
]
# Weeks in which clocks change somewhere above: the US (8 March, 1 November), Europe (29 March, 25 October),
# Chile, Lord Howe and Chatham (early April), Lebanon (late March, late October).
WEEKS = [datetime(2026, m, d, tzinfo=UTC) for m, d in ((3, 4), (3, 25), (4, 1), (9, 23), (10, 21), (10, 28))]
ANSWER = st.tuples(
    st.integers(0, 24 * 16 - 1),  # the hour, from the week's start
    st.sampled_from(sorted(SURVEY_RANGES)),
    st.sampled_from(["a-1", "a-2", ""]),
    st.integers(0, 10),
)


def _write(at: datetime, answers) -> list[tuple[datetime, str, str, int]]:
    """The rollups of `answers` (hour, metric, agent, score) as the projection keeps them: per hour and per
    UTC day, of every answer and per agent. Returns the answers as (hour, metric, agent, score), on the
    scale."""
    rows: dict[tuple, Counter] = defaultdict(Counter)
    kept = []
    for hour, metric, agent, score in answers:
        low, high = SURVEY_RANGES[metric]
        score = low + score % (high - low + 1)
        start = at + timedelta(hours=hour)
        kept.append((start, metric, agent, score))
        for period, begins in (("hour", start), ("day", start.replace(hour=0))):
            for dimension, value in (("", ""), ("agent_id", agent)):
                rows[period, begins, metric, dimension, value][score] += 1
    SurveyRollup.objects.bulk_create(
        SurveyRollup(
            key=f"{period} {begins.isoformat()} {metric} {dimension} {value}",
            period=period,
            start=begins,
            metric=metric,
            dimension=dimension,
            value=value,
            **{f"score_{score}": n for score, n in scores.items()},
        )
        for (period, begins, metric, dimension, value), scores in rows.items()
    )
    return kept


def _oracle(span: Range, answers) -> dict[tuple[str, str | None, str], list[int]]:
    """(the bucket's local date, the group, the metric) -> answers per score: each answer in the range summed
    into the day or week (from Monday) in the zone that the last moment of its hour falls in."""
    zone, lines = ZoneInfo(span.zone), defaultdict(lambda: [0] * 11)
    for start, metric, agent, score in answers:
        if span.start <= start < span.end:
            day: date = (start + timedelta(seconds=3599)).astimezone(zone).date()
            if span.granularity == "week":
                day -= timedelta(days=day.weekday())
            lines[day.isoformat(), agent if span.group_by else None, metric][score] += 1
    return dict(lines)


def _read(span: Range) -> dict[tuple[str, str | None, str], list[int]]:
    lines = {}
    for row in survey_measures(span)["rows"]:
        low, high = SURVEY_RANGES[row["metric"]]
        scores = [0] * 11
        for score in range(low, high + 1):
            scores[score] = row["distribution"][str(score)]
        key = (
            row["bucket"][:10],
            "" if span.group_by and row["group"] is None else row["group"],
            row["metric"],
        )
        assert key not in lines, f"two lines of {key}"
        lines[key] = scores
    return lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    answers=st.lists(ANSWER, max_size=40),
    week=st.sampled_from(WEEKS),
    zone=st.sampled_from(ZONES),
    granularity=st.sampled_from(["day", "week"]),
    group_by=st.sampled_from([None, "agent"]),
    hours=st.tuples(st.integers(0, 24 * 3), st.integers(1, 24 * 13)),
)
@example(  # Paris, the week its clocks go forward (Sunday the 29th): an answer in each hour of that day
    answers=[(24 * 4 + h, "csat", "a-1", h) for h in range(24)],
    week=WEEKS[1], zone="Europe/Paris", granularity="day", group_by=None, hours=(0, 24 * 9),
)  # fmt: skip
@example(  # London in summer: each day's last UTC hour is the next local day's
    answers=[(23, "nps", "a-2", 9), (24 + 23, "nps", "a-2", 3), (24 * 2 + 22, "nps", "a-2", 10)],
    week=WEEKS[2], zone="Europe/London", granularity="day", group_by="agent", hours=(0, 24 * 5),
)  # fmt: skip
def test_a_read_in_any_zone_is_every_hour_summed_into_its_local_day(
    answers, week, zone, granularity, group_by, hours
):
    SurveyRollup.objects.all().delete()
    kept = _write(week, answers)
    start = week + timedelta(hours=hours[0])
    span = Range.of(start=start, end=start + timedelta(hours=hours[1]), granularity=granularity, zone=zone,
                    group_by=group_by)  # fmt: skip

    assert _read(span) == _oracle(span, kept)


@pytest.mark.parametrize(
    ("zone", "early", "late"),
    [
        ("UTC", 0, 0),
        ("Europe/London", 0, 0),  # offset 0 in January
        ("Europe/Paris", 0, 1),  # from 23:00 UTC (00:00 CET) the next day
        ("Europe/Helsinki", 0, 2),
        ("America/Sao_Paulo", 3, 0),  # UTC 00:00-03:00 is the day before in Sao Paulo
        ("America/New_York", None, None),  # five hours (Asia/Kolkata six, Tokyo nine): read by the hour
        ("Asia/Kolkata", None, None),
        ("Asia/Tokyo", None, None),
    ],
)
def test_each_whole_utc_day_spills_the_hours_of_another_local_day(zone, early, late):
    span = Range.of(start=datetime(2026, 1, 5, tzinfo=UTC), end=datetime(2026, 1, 12, tzinfo=UTC), zone=zone)

    days = _days(span)
    spilled = [
        sum((end - start) // timedelta(hours=1) for start, end in spill) for spill in (days.early, days.late)
    ]
    if early is None:  # more than MOST_SPILL hours a day: every hour from hour rows, none from day rows
        assert (days.days, days.hours, spilled) == ([], [(span.start, span.end)], [0, 0])
    else:
        assert (days.days, spilled) == ([(span.start, span.end)], [early * 7, late * 7])
    assert days.exact == (zone in ("UTC", "Europe/London"))


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Sao_Paulo", "America/New_York"])
@pytest.mark.parametrize(("granularity", "days"), [("day", 732), ("week", 530 * 7)])
def test_the_longest_reads_answer_as_summing_every_hour_within_the_databases_parameters(
    zone, granularity, days
):
    # Two years by day: 732 days, each spilling 1 to 3 hours in Paris and Sao Paulo (a lookup per hour), or
    # ten years by week, each week's first day read by its hours in New York. PostgreSQL takes it all;
    # SQLite, whose parameters Django holds to 999, then sums every hour instead.
    at = datetime(2016, 1, 4, tzinfo=UTC)
    kept = _write(at, [(hour, "csat", "a-1", hour % 5) for hour in range(0, 24 * days, 31)])
    span = Range.of(start=at, end=at + timedelta(days=days), granularity=granularity, zone=zone,
                    group_by="agent")  # fmt: skip

    _, params = survey_statement(span)
    assert len(params) <= (connection.features.max_query_params or len(params))
    assert _read(span) == _oracle(span, kept)


@pytest.fixture
def compiled_zone(tmp_path):
    """Compiles a zone from tz source with zic into a zone path of its own, for the test's length."""
    path = zoneinfo.TZPATH

    def compile(source: str) -> str:
        (tmp_path / "zone.zi").write_text(source)
        zic = shutil.which("zic") or "/usr/sbin/zic"  # the tz compiler, in every glibc system (libc-bin)
        subprocess.run([zic, "-d", str(tmp_path / "zones"), str(tmp_path / "zone.zi")], check=True)
        zoneinfo.reset_tzpath([str(tmp_path / "zones"), *path])
        ZoneInfo.clear_cache()
        return source.split()[1]

    yield compile
    zoneinfo.reset_tzpath(path)
    ZoneInfo.clear_cache()


# No zone of the tz database from 2000 to 2030 changes its offset exactly at a UTC midnight with a whole UTC
# day of one offset and one local date beside it, and the hour on the other side of that midnight in the same
# local date: these two do. Before the first, the hour from 23:00 UTC on the 14th is 00:00 on the 15th
# there, as is the whole UTC day of the 15th; after the second, the hour from 00:00 UTC on the 17th is 23:00
# on the 16th, as is the whole UTC day of the 16th.
EDGES = [
    (
        "Zone Test/Start 1:00 - +01 2026 Feb 15 0:00u\n\t\t0:00 - +00\n",
        (datetime(2026, 2, 14, 23, tzinfo=UTC), datetime(2026, 2, 17, tzinfo=UTC)),
        [23, 30],  # hours from the 14th's midnight: the edge hour and one of the 15th's
        "2026-02-15",
    ),
    (
        "Zone Test/End 0:00 - +00 2026 Feb 17 0:00u\n\t\t-1:00 - -01\n",
        (datetime(2026, 2, 15, tzinfo=UTC), datetime(2026, 2, 17, 1, tzinfo=UTC)),
        [24 + 24 + 5, 24 * 3],  # one of the 16th's hours and the edge hour
        "2026-02-16",
    ),
]


@pytest.mark.parametrize(("source", "reach", "hours", "day"), EDGES, ids=["start", "end"])
def test_an_edge_hour_in_the_local_day_of_the_whole_utc_day_beside_it_is_summed_into_that_days_bucket(
    compiled_zone, source, reach, hours, day
):
    # The whole days' day rows are not each its bucket's sum by itself, as they are in UTC.
    start, end = reach
    span = Range.of(start=start, end=end, zone=compiled_zone(source))

    days = _days(span)

    assert days.days == [(datetime(2026, 2, 15, tzinfo=UTC), datetime(2026, 2, 17, tzinfo=UTC))]
    assert (days.early, days.late, days.exact) == ([], [], False)
    if connection.vendor == "sqlite":  # PostgreSQL knows its own zones only, not one compiled here
        at = datetime(2026, 2, 14, tzinfo=UTC)
        kept = _write(at, [(hour, "csat", "a-1", score) for hour, score in zip(hours, (0, 4), strict=True)])
        assert _read(span) == _oracle(span, kept)
        assert _read(span)[day, None, "csat"] == [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0]
