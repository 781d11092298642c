"""A measure read comes in pages of whole buckets: at most `limit` lines each (unless one bucket has more),
each with the whole range's totals (and other tables); read one after the other by the cursor each gives,
they say exactly what the read says in one answer, in every zone and at every granularity, as JSON and as
CSV. Over HTTP, `next` and the `Link` header are the address of the next page."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from interactions.analytics.models import EffortHour, HandlingHour, OutcomeHour, StepHour, SurveyRollup
from interactions.analytics.selectors import (
    GROUPS,
    MOST_PAGE_LINES,
    PAGE_LINES,
    Page,
    Range,
    effort_measures,
    handling_measures,
    journey_measures,
    outcome_measures,
    survey_measures,
    survey_table,
)
from interactions.api.analytics import CsvRenderer
from tests.interactions.analytics.test_zone_days import ANSWER, WEEKS, ZONES, _write

pytestmark = pytest.mark.django_db

SURVEYS = "/api/v1/analytics/surveys"
AT = datetime(2026, 3, 26, tzinfo=UTC)  # the week Europe's clocks go forward


def _pages(span: Range, limit: int, read=survey_measures) -> list:
    """Every page of a read, from the first, each asked for by the cursor of the one before."""
    pages = [read(span, page=Page.of(span, limit=limit))]
    while (cursor := pages[-1]["next"] if isinstance(pages[-1], dict) else pages[-1].next) is not None:
        assert len(pages) < 10_000, "the pages do not end"
        pages.append(read(span, page=Page.of(span, limit=limit, cursor=cursor)))
    return pages


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    answers=st.lists(ANSWER, max_size=40),
    week=st.sampled_from(WEEKS),
    zone=st.sampled_from(ZONES),
    granularity=st.sampled_from(["hour", "day", "week"]),
    group_by=st.sampled_from([None, "agent"]),
    hours=st.tuples(st.integers(0, 24 * 3), st.integers(1, 24 * 13)),
    limit=st.integers(1, 40),
)
@example(  # Paris, the week its clocks go forward (Sunday the 29th): an answer each hour of two days
    answers=[(24 * 4 + h, "csat", "a-1", h) for h in range(48)],
    week=WEEKS[1], zone="Europe/Paris", granularity="day", group_by=None, hours=(0, 24 * 9), limit=1,
)  # fmt: skip
@example(  # Beirut, whose clocks go back from midnight to 23:00 the day before (25 October)
    answers=[(24 * 2 + h, "nps", "a-2", h) for h in range(36)],
    week=WEEKS[5], zone="Asia/Beirut", granularity="day", group_by="agent", hours=(0, 24 * 6), limit=2,
)  # fmt: skip
def test_the_pages_of_a_read_are_the_read(answers, week, zone, granularity, group_by, hours, limit):
    SurveyRollup.objects.all().delete()
    _write(week, answers)
    start = week + timedelta(hours=hours[0])
    span = Range.of(start=start, end=start + timedelta(hours=hours[1]), granularity=granularity, zone=zone,
                    group_by=group_by)  # fmt: skip
    whole = survey_measures(span)
    pages = _pages(span, limit)

    assert [row for page in pages for row in page["rows"]] == whole["rows"]
    assert all(page["totals"] == whole["totals"] for page in pages)
    buckets = [[row["bucket"] for row in page["rows"]] for page in pages]
    seen = [bucket for page in buckets for bucket in dict.fromkeys(page)]
    assert len(seen) == len(set(seen)), "a bucket on two pages"
    for page in buckets:
        assert len(page) <= limit or len(set(page)) == 1, (
            "a page longer than its limit of more than one bucket"
        )
    if not whole["rows"]:
        assert len(pages) == 1
    # As CSV: the pages' lines are the whole table's, the totals on the last page only.
    tables = _pages(span, limit, survey_table)
    table = survey_table(span)
    assert all(page.header == table.header for page in tables)
    assert [line for page in tables for line in page.lines] == table.lines


def test_a_page_holds_whole_buckets_of_as_many_lines_as_the_range_has_groups(supervisor_api):
    # Three agents answer CSAT every day of four; a fourth only on the last day. A day has at most four lines
    # (one per agent with answers over the range), so a page of 9 lines holds two days, and one of 3 lines
    # (fewer than a day can have) holds one day.
    SurveyRollup.objects.all().delete()
    days = 4
    answers = [(24 * day + 10, "csat", f"a-{n}", 3) for day in range(days) for n in range(3)]
    _write(WEEKS[0], [*answers, (24 * 3 + 11, "csat", "a-9", 4)])
    span = {"from": "2026-03-04T00:00:00Z", "to": "2026-03-08T00:00:00Z", "group_by": "agent"}

    first = supervisor_api.get(SURVEYS, {**span, "limit": 9})
    assert first.status_code == 200, first.content
    body = first.json()
    assert [row["bucket"] for row in body["rows"]] == ["2026-03-04T00:00:00Z"] * 3 + [
        "2026-03-05T00:00:00Z"
    ] * 3
    assert [(t["group"], t["answers"]) for t in body["totals"]] == [
        ("a-0", 4),
        ("a-1", 4),
        ("a-2", 4),
        ("a-9", 1),
    ]
    assert body["next"].startswith("http://testserver/api/v1/analytics/surveys?")
    assert (
        "cursor=2026-03-06" in body["next"] and "limit=9" in body["next"] and "group_by=agent" in body["next"]
    )
    assert first["Link"] == f'<{body["next"]}>; rel="next"'

    second = supervisor_api.get(body["next"])
    assert second.status_code == 200, second.content
    last = second.json()
    assert [row["bucket"][:10] for row in last["rows"]] == ["2026-03-06"] * 3 + ["2026-03-07"] * 4
    assert last["next"] is None and "Link" not in second
    assert last["totals"] == body["totals"]

    one = supervisor_api.get(SURVEYS, {**span, "limit": 3}).json()
    assert [row["bucket"][:10] for row in one["rows"]] == ["2026-03-04"] * 3
    assert "cursor=2026-03-05" in one["next"]

    # As CSV: the header of the whole range (the NPS columns only if it has NPS), the totals on the last page.
    csv_first = supervisor_api.get(SURVEYS, {**span, "limit": 9, "format": "csv"})
    assert csv_first.status_code == 200, csv_first.content
    lines = csv_first.content.decode().splitlines()
    assert lines[0].startswith("bucket,group,metric,answers,mean,top2_rate,bottom2_rate,score_1")
    assert len(lines) == 1 + 6 and not any(line.startswith("total") for line in lines)
    following = csv_first["Link"].removeprefix("<").removesuffix('>; rel="next"')
    assert "format=csv" in following and "cursor=2026-03-06" in following
    csv_last = supervisor_api.get(following).content.decode().splitlines()
    assert [line.split(",")[0][:10] for line in csv_last[1:]] == ["2026-03-06"] * 3 + ["2026-03-07"] * 4 + [
        "total"
    ] * 4


def test_behind_a_proxy_the_next_page_is_under_the_public_url(supervisor_api, settings):
    SurveyRollup.objects.all().delete()
    _write(WEEKS[0], [(24 * day, "csat", "a-1", 3) for day in range(3)])
    settings.THREADLINE_PUBLIC_URL = "https://hub.example.com/"
    span = {"from": "2026-03-04T00:00:00Z", "to": "2026-03-07T00:00:00Z", "limit": 1}
    first = supervisor_api.get(SURVEYS, span)
    assert first.status_code == 200, first.content
    following = first.json()["next"]
    assert (
        following.startswith("https://hub.example.com/api/v1/analytics/surveys?")
        and "cursor=2026-03-05" in following
    )
    assert first["Link"] == f'<{following}>; rel="next"'


def test_a_read_without_a_limit_has_pages_of_the_default_length(supervisor_api):
    # 40 agents answer every hour of two days: 1,920 lines by hour and agent, so two pages of 25 hours (1,000
    # lines) and 23; at the longest limit, one page.
    SurveyRollup.objects.all().delete()
    _write(WEEKS[0], [(hour, "ces", f"a-{n}", 5) for hour in range(48) for n in range(40)])
    span = {
        "from": "2026-03-04T00:00:00Z",
        "to": "2026-03-06T00:00:00Z",
        "group_by": "agent",
        "granularity": "hour",
    }
    first = supervisor_api.get(SURVEYS, span).json()
    assert len(first["rows"]) == PAGE_LINES
    second = supervisor_api.get(first["next"]).json()
    assert len(second["rows"]) == 48 * 40 - PAGE_LINES and second["next"] is None
    whole = supervisor_api.get(SURVEYS, {**span, "limit": MOST_PAGE_LINES}).json()
    assert whole["rows"] == first["rows"] + second["rows"] and whole["next"] is None


# The other measures' hour rows (and the journeys' day rows, their sums), with counts of every kind: a page
# of them is the same pages of whole buckets, with the whole range's totals and other tables on each.
OTHERS = {
    "handling": (HandlingHour, handling_measures, None, ["chat", "voice"], list(GROUPS)),
    "effort": (EffortHour, effort_measures, None, ["chat", "voice"], list(GROUPS)),
    "outcomes": (OutcomeHour, outcome_measures, "currency", ["EUR", "USD"], list(GROUPS)),
    "journeys": (
        StepHour,
        journey_measures,
        "step",
        ["chat:assisted", "voice:assisted"],
        ["topic", "segment"],
    ),
}
ROW = st.tuples(
    st.integers(0, 24 * 9),
    st.sampled_from(["chat", "sms"]),
    st.sampled_from(["", "a-1", "a-2"]),
    st.sampled_from(["", "billing", "=SUM(A1)"]),
    st.sampled_from(["", "gold"]),
    st.integers(0, 1),
    st.integers(0, 5),
)


def _counts(model) -> list[str]:
    kept = {"key", "hour", "channel", "agent_id", "topic", "segment", "period", "currency", "step"}
    return [f.name for f in model._meta.concrete_fields if f.name not in kept]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    measure=st.sampled_from(sorted(OTHERS)),
    rows=st.lists(ROW, max_size=30),
    zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]),
    granularity=st.sampled_from(["hour", "day", "week"]),
    group=st.integers(0, 4),
    hours=st.tuples(st.integers(0, 24 * 3), st.integers(1, 24 * 8)),
    limit=st.integers(1, 12),
)
def test_the_pages_of_every_other_measure_are_the_read(measure, rows, zone, granularity, group, hours, limit):
    model, read, key, keys, groups = OTHERS[measure]
    model.objects.all().delete()
    counts = _counts(model)
    summed: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(counts))
    for hour, channel, agent, topic, segment, which, seed in rows:
        at = AT + timedelta(hours=hour)
        dims = (channel, agent, topic, segment, keys[which])
        for period, begins in (
            (("hour", at), ("day", at.replace(hour=0))) if measure == "journeys" else (("hour", at),)
        ):
            row = summed[(period, begins, *dims)]
            for n in range(len(counts)):
                row[n] += (seed + n) % 6
    for (period, begins, channel, agent, topic, segment, value), values in summed.items():
        fields = {
            "hour": begins,
            "topic": topic,
            "segment": segment,
            key or "channel": value if key else channel,
        }
        if measure == "journeys":
            fields["period"] = period
        else:
            fields.update(channel=channel, agent_id=agent)
        key_text = f"{period} {begins} {channel} {agent} {topic} {segment} {value}"
        model.objects.create(key=hashlib.sha256(key_text.encode()).hexdigest(), **fields,
                             **dict(zip(counts, values, strict=True)))  # fmt: skip
    start = AT + timedelta(hours=hours[0])
    group_by = ([None, *groups] * 3)[group]
    span = Range.of(start=start, end=start + timedelta(hours=hours[1]), granularity=granularity, zone=zone,
                    group_by=group_by)  # fmt: skip
    whole = read(span)
    pages = [read(span, page=Page.of(span, limit=limit))]
    while pages[-1]["next"] is not None:
        assert len(pages) < 1000, "the pages do not end"
        pages.append(read(span, page=Page.of(span, limit=limit, cursor=pages[-1]["next"])))

    assert [row for page in pages for row in page["rows"]] == whole["rows"]
    for page in pages:
        assert {k: v for k, v in page.items() if k not in ("rows", "next")} == {
            k: v for k, v in whole.items() if k not in ("rows", "next")
        }
        assert len(page["rows"]) <= limit or len({row["bucket"] for row in page["rows"]}) == 1
    # As CSV (a page but the last carries the next page's address): one header, then the whole read's lines.
    written = [
        CsvRenderer().render({**page, "next": None if n == len(pages) - 1 else "https://hub/next"}).decode()
        for n, page in enumerate(pages)
    ]
    header = {text.split("\r\n", 1)[0] for text in written}
    assert len(header) == 1
    lines = "".join(text.split("\r\n", 1)[1] for text in written)
    assert f"{header.pop()}\r\n{lines}".encode() == CsvRenderer().render(whole)


def test_a_bucket_whose_hour_comes_after_the_next_buckets_is_on_its_own_page():
    # Antarctica/Casey's clocks went back from +11 to +08 at 15:00 UTC on 4 March 2010: the hours at 13:00
    # and 14:00 UTC are the 5th there, the hour at 15:00 the 4th again. A read from 13:00 UTC by day starts
    # at the 4th, and every hour is on the page of its day, one day a page.
    SurveyRollup.objects.all().delete()
    at = datetime(2010, 3, 4, 13, tzinfo=UTC)
    _write(at, [(hour, "csat", "a-1", 3) for hour in range(72)])
    span = Range.of(start=at, end=at + timedelta(days=3), granularity="day", zone="Antarctica/Casey")
    whole = survey_measures(span)
    pages = _pages(span, 1)
    assert [row["bucket"][:10] for row in pages[0]["rows"]] == ["2010-03-04"]
    assert pages[0]["rows"][0]["answers"] == 1  # 15:00 UTC, 23:00 local on the 4th
    assert [row for page in pages for row in page["rows"]] == whole["rows"]
    assert (
        sum(row["answers"] for page in pages for row in page["rows"]) == 72 == whole["totals"][0]["answers"]
    )
    # And a range ending at that hour: its last bucket is the 4th, after the 5th's two hours.
    span = Range.of(
        start=at - timedelta(days=1), end=at + timedelta(hours=3), granularity="day", zone="Antarctica/Casey"
    )
    assert [row["bucket"][:10] for page in _pages(span, 1) for row in page["rows"]] == [
        row["bucket"][:10] for row in survey_measures(span)["rows"]
    ]


def test_the_next_page_of_a_read_left_to_its_default_range_keeps_that_range(supervisor_api):
    # Without `from` and `to`, a read covers the 7 days up to the end of the current hour: the next page
    # says which, so that it is a page of the same read when the hour has turned meanwhile.
    SurveyRollup.objects.all().delete()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    _write(now - timedelta(days=3), [(24 * day, "ces", "a-1", 4) for day in range(3)])
    first = supervisor_api.get(SURVEYS, {"limit": 1}).json()
    following = parse_qs(urlsplit(first["next"]).query)
    assert following["to"] == [first["to"]] and "from" not in following
    assert following["limit"] == ["1"]
    second = supervisor_api.get(first["next"]).json()
    assert (second["from"], second["to"]) == (first["from"], first["to"])
    # A read that says only `to` keeps its `from` 7 days before it, even in the log's first week.
    early = supervisor_api.get(SURVEYS, {"to": "1970-01-03T00:00:00Z", "limit": 1, "granularity": "hour"})
    assert early.status_code == 200, early.content


def test_a_survey_csv_page_with_a_metric_the_totals_have_not_seen_yet_is_written():
    # The first NPS answer can come between the statement that sums the totals and the page's: its line is
    # written (here an hour row its day row does not have yet, as in that moment).
    SurveyRollup.objects.all().delete()
    at = datetime(2026, 3, 4, 10, tzinfo=UTC)
    SurveyRollup.objects.create(key="hour nps", period="hour", start=at, metric="nps", score_9=1)
    span = Range.of(start=at.replace(hour=0), end=at.replace(hour=0) + timedelta(days=1), granularity="hour")
    table = survey_table(span, page=Page.of(span))  # its totals sum the day's row, which has no answer
    nps = ["promoters_rate", "passives_rate", "detractors_rate", "nps"]
    figures = ["metric", "answers", "mean", "top2_rate", "bottom2_rate", *nps]
    assert table.header[2:] == [*figures, *(f"score_{n}" for n in range(11))]
    assert [line[:4] for line in table.lines] == [["2026-03-04T10:00:00Z", None, "nps", 1]]
