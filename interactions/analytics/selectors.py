"""Reading the measures: sums of the hourly read models over a range, bucketed by hour, day or week in a
time zone, grouped by one dimension. A read sums rows; it never reads the log."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import BigIntegerField, DateTimeField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Cast, TruncDay, TruncHour, TruncWeek
from django.db.models.sql.constants import MULTI

from hub.events import isoformat_z
from interactions.analytics.measures import (
    NPS_COLUMNS,
    SURVEY_COLUMNS,
    SURVEY_FIGURES,
    SURVEY_LINES,
    callback_attempt_summary,
    effort_summary,
    handling_summary,
    outcome_summary,
    step_summary,
    survey_figures,
    transition_summary,
)
from interactions.analytics.models import (
    CALLBACK_OUTCOMES,
    EFFORT_COUNTS,
    GAP_BINS,
    HANDLING_COUNTS,
    OUTCOME_COUNTS,
    STEP_COUNTS,
    TRANSITION_COUNTS,
    CallbackHour,
    CustomerValue,
    EffortHour,
    HandlingHour,
    OutcomeHour,
    StepHour,
    SurveyRollup,
    TransitionHour,
)
from interactions.catalogue.currencies import from_units
from interactions.catalogue.schemas import SURVEY_RANGES
from interactions.errors import InvalidRequest

# granularity -> (truncation, the most buckets one read may ask for)
GRANULARITIES = {
    "hour": (TruncHour, 24 * 31),
    "day": (TruncDay, 2 * 366),
    "week": (TruncWeek, 10 * 53),
}
# group_by -> the read model's column
GROUPS = {"channel": "channel", "agent": "agent_id", "topic": "topic", "segment": "segment"}
DEFAULT_DAYS = 7
STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _refuse(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field} {message}", extra={"errors": [{"field": field, "message": message}]})


@dataclass(frozen=True)
class Range:
    """Which hours a read sums and how it buckets them: hours from the hour of `start` up to, not including,
    the hour of `end` (both rounded down to the whole hour), bucketed by `granularity` in `zone`."""

    start: datetime
    end: datetime
    granularity: str
    zone: str
    group_by: str | None

    @classmethod
    def of(
        cls,
        *,
        start: datetime | None,
        end: datetime | None,
        granularity: str = "day",
        zone: str = "UTC",
        group_by: str | None = None,
        now: datetime | None = None,
    ) -> Range:
        given_end = end is not None
        end = _hour(end) if end is not None else _hour(now or datetime.now(UTC)) + timedelta(hours=1)
        start = _hour(start) if start is not None else end - timedelta(days=DEFAULT_DAYS)
        if start >= end:
            raise _refuse("from", "must be at least an hour before to")
        most = GRANULARITIES[granularity][1]
        if (end - start) / STEP[granularity] > most:
            raise _refuse(
                "to" if given_end else "from",
                f"is too far from from: at most {most} {granularity}s in one read",
            )
        return cls(start, end, granularity, zone, group_by)

    def bucket_text(self, bucket: datetime) -> str:
        return isoformat_z(bucket.astimezone(ZoneInfo(self.zone)))

    def describe(self) -> dict[str, Any]:
        return {
            "from": isoformat_z(self.start),
            "to": isoformat_z(self.end),
            "granularity": self.granularity,
            "timezone": self.zone,
            "group_by": self.group_by,
        }


def _bucket(span: Range, column: str = "hour"):
    """The bucket of each hour row: the hour itself (UTC, written in the zone), or the day or week in the
    zone that the hour's last moment falls in. So in a zone whose offset is not whole hours (Asia/Kolkata,
    +05:30) a day starts at the UTC hour its midnight falls in; and when clocks go back the two hours that
    read 01:00 stay two hours."""
    if span.granularity == "hour":
        return F(column)
    last_moment = ExpressionWrapper(F(column) + timedelta(seconds=3599), output_field=DateTimeField())
    return GRANULARITIES[span.granularity][0](last_moment, tzinfo=ZoneInfo(span.zone))


def _sums(span: Range, rows, keys: list[str], counts: list[str], where: Q | None = None) -> list[Bucket]:
    """`rows` of `span`'s hours (or of those `where` picks) summed per bucket, group and `keys`, in buckets
    (_bucketed): each row a tuple of the raw bucket, the group ("" when not grouped), the `keys` and the
    `counts`, in that order, sorted by group and keys."""
    column = GROUPS.get(span.group_by or "")
    query = (
        rows.filter(Q(hour__gte=span.start, hour__lt=span.end) if where is None else where)
        .annotate(bucket=_bucket(span), grp=F(column) if column else Value(""))
        .values("bucket", "grp", *keys)
        .order_by()
        .annotate(**_summed(counts))
        .values_list("bucket", "grp", *keys, *counts)
    )
    return _bucketed(query, span, itemgetter(*range(1, 2 + len(keys))))


def _summed(counts: list[str]) -> dict[str, Cast]:
    """The sum of each count column, as an integer from the database itself: PostgreSQL sums a bigint into a
    numeric, which psycopg reads as a Decimal, and rows read as _bucketed reads them skip Django's
    conversions."""
    return {name: Cast(Sum(name), BigIntegerField()) for name in counts}


def _tallied(span: Range, sums: list[Bucket], keys: int, counts: list[str], summary) -> dict[str, Any]:
    """The figures of `sums` (from _sums, with `keys` key columns given to `summary` before the counts): per
    bucket, group and key (`rows`), and per group and key over the whole range (`totals`)."""
    summed: dict[tuple, list[tuple]] = defaultdict(list)
    rows = []
    for text, lines in sums:
        for _, group, *rest in lines:
            key, values = tuple(rest[:keys]), rest[keys:]
            summed[(group, *key)].append(values)
            figures = summary(*key, dict(zip(counts, values, strict=True)))
            rows.append({"bucket": text, "group": _group(span, group), **figures})
    return {
        **span.describe(),
        "rows": rows,
        "totals": [
            {
                "group": _group(span, group),
                **summary(*key, dict(zip(counts, map(sum, zip(*values, strict=True)), strict=True))),
            }
            for (group, *key), values in sorted(summed.items())
        ],
    }


def _group(span: Range, value: str) -> str | None:
    return (value or None) if span.group_by else None


# The zones whose days are UTC days: only there may a read by day or week sum the rollups' day rows.
UTC_ZONES = frozenset({"UTC", "Etc/UTC"})
_SUMS = {f"n{n}": Sum(f"score_{n}") for n in range(0, 11)}


def _by_utc_day(span: Range) -> bool:
    """May a read bucketed as `span` is sum day rows? Only by day or week in a zone whose days are UTC's."""
    return span.granularity != "hour" and span.zone in UTC_ZONES


def _whole_days(span: Range) -> tuple[datetime, datetime]:
    """The first and the last UTC midnight of `span`'s hours: the whole UTC days between them are its days
    (none when first >= last)."""
    first = span.start.replace(hour=0) + timedelta(days=1) if span.start.hour else span.start
    return first, span.end.replace(hour=0)


def _periods(span: Range, column: str, *, by_day: bool) -> Q:
    """The rows of `span`'s hours in a table of hour and UTC day rows (`period`; `column`: when each starts):
    hour rows only, or `by_day`, the whole UTC days of the range from day rows and only the hours before its
    first midnight and after its last from hour rows."""
    first, last = _whole_days(span)
    if not by_day or first >= last:
        return Q(period="hour", **{f"{column}__gte": span.start, f"{column}__lt": span.end})
    return _edge_hours(span, column, first, last) | Q(
        period="day", **{f"{column}__gte": first, f"{column}__lt": last}
    )


def _edge_hours(span: Range, column: str, first: datetime, last: datetime) -> Q:
    """The hour rows of `span` before its first UTC midnight and after its last."""
    return Q(period="hour", **{f"{column}__gte": span.start, f"{column}__lt": first}) | Q(
        period="hour", **{f"{column}__gte": last, f"{column}__lt": span.end}
    )


def _rollups(span: Range, metric: str | None):
    """The rollup rows a survey read sums, summed per bucket (a values_list of the bucket, the value, the
    metric and the answers per score): of the group's dimension (or of all answers), and of `span`'s
    hours. By day or week in UTC, the whole UTC days of the range are read from day rows and only the hours
    before the first and after the last midnight from hour rows; otherwise every hour from hour rows (a day
    in another zone is not a UTC day). Each row is bucketed as `_bucket` buckets an hour: a day row's start
    is a UTC midnight, so it falls in its own day and week. By day in UTC a day row is its bucket's sum
    already (one per day, value and metric: the key is theirs), so day rows are read as they are and only the
    edge hours summed, in one statement (one snapshot): over months by agent, summing 10,000 day rows that
    each sum only themselves took a third of the SQL."""
    rows = SurveyRollup.objects.filter(dimension=GROUPS.get(span.group_by or "", ""))
    if metric:
        rows = rows.filter(metric=metric)
    first, last = _whole_days(span)
    if span.granularity != "day" or not _by_utc_day(span) or first >= last:
        return _summed_rollups(span, rows.filter(_periods(span, "start", by_day=_by_utc_day(span))))
    days = (
        rows.filter(period="day", start__gte=first, start__lt=last)
        .annotate(bucket=_bucket(span, "start"))
        .values_list("bucket", "value", "metric", *(f"score_{n}" for n in range(11)))
    )
    hours = _summed_rollups(span, rows.filter(_edge_hours(span, "start", first, last)))
    return days.order_by().union(hours, all=True)


def _summed_rollups(span: Range, rows):
    return (
        rows.annotate(bucket=_bucket(span, "start"))
        .values("bucket", "metric", "value")
        .order_by()
        .annotate(**_SUMS)
        .values_list("bucket", "value", "metric", *_SUMS)
    )


# A bucket of a read: its text (its start, in the read's zone) and its rows as the database gave them.
Bucket = tuple[str, list[tuple]]


def _bucketed(query, span: Range, order) -> list[Bucket]:
    """The rows of a values_list `query` whose first column is the bucket, in their buckets in time order, and
    in each bucket sorted by `order` (a key on the other columns). Each bucket is converted as Django converts
    it (made aware in the read's zone), once; the rows are left as the database gives them, the bucket still
    raw in their first column: a long read has ten thousand rows and a dozen columns, and converting or
    copying every row cost more than the SQL."""
    compiler = query.query.get_compiler(using=query.db)
    chunks = compiler.execute_sql(MULTI)  # which also sets the compiler's columns up
    converters, expression = compiler.get_converters([compiler.select[0][0]]).get(0, ([], None))
    rows: dict[Any, list[tuple]] = defaultdict(list)
    for chunk in chunks:
        for row in chunk:
            rows[row[0]].append(row)
    buckets = []
    for raw, lines in rows.items():
        bucket = raw
        for convert in converters:
            bucket = convert(bucket, expression, compiler.connection)
        lines.sort(key=order)
        buckets.append((bucket, lines))
    buckets.sort(key=itemgetter(0))
    return [(span.bucket_text(bucket), lines) for bucket, lines in buckets]


def survey_measures(span: Range, *, metric: str | None = None) -> dict[str, Any]:
    """The survey figures of `span`: per bucket, group and metric (`rows`, buckets with no answer left out),
    and per group and metric over the whole range (`totals`), summed from the rollups."""
    buckets = _bucketed(_rollups(span, metric), span, itemgetter(1, 2))
    grouped = bool(span.group_by)
    return {
        **span.describe(),
        "rows": [
            SURVEY_LINES[row[2]](text, (row[1] or None) if grouped else None, *row[3:])
            for text, rows in buckets
            for row in rows
        ],
        "totals": [
            {"group": _group(span, group), **survey_figures(m, scores)}
            for group, m, scores in _survey_totals(buckets)
        ],
    }


@dataclass(frozen=True)
class Table:
    """A read as a table, which is what its CSV writes: a line of cells under `header` per bucket and group
    (null cells empty), then a line per total (bucket `total`). `text` are the columns whose cells may be
    text (the others are numbers or null)."""

    header: list[str]
    lines: list[list[Any]]
    text: tuple[int, ...]


def survey_table(span: Range, *, metric: str | None = None) -> Table:
    """survey_measures' figures as the table its CSV writes, built from the summed rows without its JSON's
    dicts: a read by day and agent over months has 10,000 lines. The columns are the figures of the metrics
    the read has (NPS_COLUMNS only if it has NPS), then a column per score of their scales (`score_0` to
    `score_10` with NPS), the cells of scores outside a line's scale empty. `tests/interactions/analytics`
    checks that it writes what the CSV of survey_measures' JSON does."""
    buckets = _bucketed(_rollups(span, metric), span, itemgetter(1, 2))
    metrics = {row[2] for _, rows in buckets for row in rows}
    if not metrics:
        return Table(["bucket", "group"], [], (0, 1))
    lowest = min(SURVEY_RANGES[m][0] for m in metrics)
    highest = max(SURVEY_RANGES[m][1] for m in metrics)
    figures = SURVEY_COLUMNS + (NPS_COLUMNS if "nps" in metrics else [])
    # metric -> (its figures, where its scores are in a row and in a total's scores, the empty cells before
    # and after them)
    layout = {}
    for m in metrics:
        low, high = SURVEY_RANGES[m]
        missing = len(figures) - len(SURVEY_COLUMNS) - (len(NPS_COLUMNS) if m == "nps" else 0)
        before, after = (None,) * (missing + low - lowest), (None,) * (highest - high)
        layout[m] = (SURVEY_FIGURES[m], slice(3 + low, 4 + high), slice(low, high + 1), before, after)
    grouped = bool(span.group_by)
    lines = []
    for text, rows in buckets:
        for row in rows:
            of, scale, _, before, after = layout[row[2]]
            given = row[scale]
            value = (row[1] or None) if grouped else None
            lines.append([text, value, row[2], *of(*given), *before, *given, *after])
    for group, m, scores in _survey_totals(buckets):
        of, _, scale, before, after = layout[m]
        given = scores[scale]
        lines.append(["total", _group(span, group), m, *of(*given), *before, *given, *after])
    scores = [f"score_{score}" for score in range(lowest, highest + 1)]
    return Table(["bucket", "group", *figures, *scores], lines, (0, 1, 2))


def _survey_totals(buckets: list[Bucket]) -> list[tuple[str, str, list[int]]]:
    """The answers per score (0 to 10) of each group and metric of a survey read's buckets, summed: (group,
    metric, scores), by group and metric."""
    summed: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    for _, rows in buckets:
        for row in rows:
            summed[row[1], row[2]].append(row)
    return [
        (group, metric, [sum(column) for column in islice(zip(*rows, strict=True), 3, None)])
        for (group, metric), rows in sorted(summed.items())
    ]


def handling_measures(span: Range) -> dict[str, Any]:
    """The handling figures of `span`: per bucket and group (`rows`, buckets with nothing left out), and per
    group over the whole range (`totals`)."""
    return {**_counted(span, HandlingHour, HANDLING_COUNTS, handling_summary), **_callback_attempts(span)}


def _callback_attempts(span: Range) -> dict[str, Any]:
    """Per group and attempt over the whole range: the callback calls' outcomes and their success rate."""
    column = GROUPS.get(span.group_by or "")
    sums = (
        CallbackHour.objects.filter(hour__gte=span.start, hour__lt=span.end)
        .values("attempt", *([column] if column else []))
        .order_by()
        .annotate(**{name: Sum(name) for name in CALLBACK_OUTCOMES})
    )
    attempts = sorted(((row[column] if column else "", row["attempt"]), row) for row in sums)
    return {
        "callback_attempts": [
            {
                "group": _group(span, group),
                **callback_attempt_summary(attempt, {name: row[name] for name in CALLBACK_OUTCOMES}),
            }
            for (group, attempt), row in attempts
        ]
    }


def effort_measures(span: Range) -> dict[str, Any]:
    """The effort of the threads first resolved in `span`, per bucket and group, and per group."""
    return _counted(span, EffortHour, EFFORT_COUNTS, effort_summary)


def outcome_measures(span: Range, *, currency: str | None = None) -> dict[str, Any]:
    """The outcomes of `span` (all currencies, or one), per bucket, group and currency, and per group and
    currency over the whole range: never summed across currencies, never converted."""
    rows = OutcomeHour.objects.filter(currency=currency) if currency else OutcomeHour.objects.all()
    return _counted(span, rows, OUTCOME_COUNTS, outcome_summary, key="currency")


def customer_lifetime_value(customer_id: Any) -> list[dict[str, str]]:
    """A customer's lifetime value per currency (`currency`, `value` as a decimal string), by currency code:
    what the analytics subscription has summed of their outcomes (and of customers merged into them)."""
    values = CustomerValue.objects.filter(customer_id=customer_id, outcomes__gt=0).order_by("currency")
    return [{"currency": row.currency, "value": from_units(row.value)} for row in values]


def _counted(span: Range, model, counts: list[str], summary, key: str | None = None) -> dict[str, Any]:
    """Sum `counts` of the rows of `model` (a model or a queryset) per bucket and group (and per `key`, a
    column the summary is given first: outcomes are never summed across currencies)."""
    rows = model.objects.all() if isinstance(model, type) else model
    keys = [key] if key else []
    return _tallied(span, _sums(span, rows, keys, counts), len(keys), counts, summary)


# Journeys are counted per objective: by its topic, or its customer's segment, or not grouped.
JOURNEY_GROUPS = ("topic", "segment")
CHOKE_POINTS = 3  # per group: the steps with the longest mean wait, and those with the most transfers


def journey_measures(span: Range) -> dict[str, Any]:
    """The journeys of `span`: each step's figures per bucket and group (`rows`) and per group (`totals`),
    the transitions between steps per group over the whole range, and per group the choke points: the
    steps with the longest mean wait for an answer and those with the most transfers. Whole UTC days are
    summed from day rows: a read's transitions always, its steps when it buckets by UTC day or week."""
    days = _periods(span, "hour", by_day=_by_utc_day(span))
    steps = _sums(span, StepHour.objects, ["step"], STEP_COUNTS, days)
    figures = _tallied(span, steps, 1, STEP_COUNTS, step_summary)
    column = GROUPS.get(span.group_by or "")
    moves = (
        TransitionHour.objects.filter(_periods(span, "hour", by_day=True))
        .annotate(grp=F(column) if column else Value(""))
        .values("grp", "from_step", "to_step")
        .order_by()
        .annotate(**_summed(TRANSITION_COUNTS))
        .values_list("grp", "from_step", "to_step", *TRANSITION_COUNTS)
    )
    return {
        **figures,
        "transitions": [
            {
                "group": _group(span, group),
                "from": start,
                "to": end,
                **transition_summary(dict(zip(TRANSITION_COUNTS, sums, strict=True)), GAP_BINS),
            }
            for group, start, end, *sums in sorted(moves)
        ],
        "choke_points": _choke_points(figures["totals"]),
    }


def _choke_points(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_group: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for step in steps:
        by_group[step["group"]].append(step)
    points = []
    for group, figures in sorted(by_group.items(), key=lambda item: item[0] or ""):
        waited = sorted(
            (s for s in figures if s["waits"]), key=lambda s: (-s["mean_wait_seconds"], s["step"])
        )
        moved = sorted((s for s in figures if s["transfers"]), key=lambda s: (-s["transfers"], s["step"]))
        for by, ranked, value in (("wait", waited, "mean_wait_seconds"), ("transfers", moved, "transfers")):
            points += [
                {"group": group, "by": by, "rank": n, "step": s["step"], "value": s[value]}
                for n, s in enumerate(ranked[:CHOKE_POINTS], start=1)
            ]
    return points
