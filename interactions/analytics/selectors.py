"""Reading the measures: sums of the hourly read models over a range, bucketed by hour, day or week in a
time zone, grouped by one dimension. A read sums rows; it never reads the log."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connections
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
HOUR, LAST_MOMENT, NOON = timedelta(hours=1), timedelta(seconds=3599), timedelta(hours=12)


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


def _bucket(span: Range, column: str = "hour", shift: timedelta = timedelta(0)):
    """The bucket of each hour row: the hour itself (UTC, written in the zone), or the day or week in the
    zone that the hour's last moment falls in. So in a zone whose offset is not whole hours (Asia/Kolkata,
    +05:30) a day starts at the UTC hour its midnight falls in; and when clocks go back the two hours that
    read 01:00 stay two hours. `shift`: the bucket of the hour that many hours later (or earlier)."""
    if span.granularity == "hour":
        return F(column)
    last_moment = ExpressionWrapper(F(column) + (shift + LAST_MOMENT), output_field=DateTimeField())
    return GRANULARITIES[span.granularity][0](last_moment, tzinfo=ZoneInfo(span.zone))


def _sums(
    span: Range, rows, keys: list[str], counts: list[str], where: Q | None = None, keep=None
) -> list[Bucket]:
    """`rows` of `span`'s hours (or of those `where` picks) summed per bucket, group and `keys`, in buckets
    (_bucketed, which `keep` filters): each row a tuple of the raw bucket, the group ("" when not grouped),
    the `keys` and the `counts`, in that order, sorted by group and keys."""
    column = GROUPS.get(span.group_by or "")
    query = (
        rows.filter(Q(hour__gte=span.start, hour__lt=span.end) if where is None else where)
        .annotate(bucket=_bucket(span), grp=F(column) if column else Value(""))
        .values("bucket", "grp", *keys)
        .order_by()
        .annotate(**_summed(counts))
        .values_list("bucket", "grp", *keys, *counts)
    )
    return _bucketed(query, span, itemgetter(*range(1, 2 + len(keys))), keep)


def _summed(counts: list[str]) -> dict[str, Cast]:
    """The sum of each count column, as an integer from the database itself: PostgreSQL sums a bigint into a
    numeric, which psycopg reads as a Decimal, and rows read as _bucketed reads them skip Django's
    conversions."""
    return {name: Cast(Sum(name), BigIntegerField()) for name in counts}


def _paged(
    span: Range,
    page: Page | None,
    rows,
    keys: list[str],
    counts: list[str],
    summary,
    where,
    *,
    day_rows: bool = False,
) -> dict[str, Any]:
    """The figures of `rows` (summed `counts`, given to `summary` after the `keys`): per bucket, group and key
    (`rows`) of `page`'s buckets (all without one), per group and key over the whole range (`totals`), and
    the cursor of the next page (`next`). `where(range, by_day)` picks the rows of a range's hours: by day,
    whole UTC days from day rows. A table with `day_rows` has its totals summed from them by the database
    and only the page's hours read by bucket; in one without, the totals would read every hour row of the
    range anyway, so the whole range is read by bucket once, the totals summed from it and the page's
    buckets kept."""
    column = GROUPS.get(span.group_by or "")
    if not day_rows:
        buckets = _sums(span, rows, keys, counts, where(span, False))
        summed: dict[tuple, list[int]] = {}
        for _, lines in buckets:
            for _, group, *rest in lines:
                line = summed.setdefault((group, *rest[: len(keys)]), [0] * len(counts))
                for n, value in enumerate(rest[len(keys) :]):
                    line[n] += value
        totals = sorted((*line, *sums) for line, sums in summed.items())
        after = None
        if page is not None:
            _, first, end, more = _page_part(span, page, len(totals))
            buckets = [(text, lines) for text, lines in buckets if first <= _key_of_text(span, text) < end]
            after = _cursor(end) if more else None
    else:
        sums = (
            rows.filter(where(span, True))
            .annotate(grp=F(column) if column else Value(""))
            .values("grp", *keys)
            .order_by()
            .annotate(**_summed(counts))
            .values_list("grp", *keys, *counts)
        )
        # Not grouped and without keys, the statement sums every row into one line: of nulls if none.
        totals = sorted(line for line in sums if line[-1] is not None)
        part, keep, after = span, None, None
        if page is not None:
            part, first, end, more = _page_part(span, page, len(totals))
            keep, after = (lambda key: first <= key < end), _cursor(end) if more else None
        buckets = _sums(part, rows, keys, counts, where(part, _by_utc_day(part)), keep)
    figures = []
    for text, lines in buckets:
        for _, group, *rest in lines:
            given = dict(zip(counts, rest[len(keys) :], strict=True))
            figures.append(
                {"bucket": text, "group": _group(span, group), **summary(*rest[: len(keys)], given)}
            )
    return {
        **span.describe(),
        "rows": figures,
        "totals": [
            {
                "group": _group(span, group),
                **summary(*rest[: len(keys)], dict(zip(counts, rest[len(keys) :], strict=True))),
            }
            for group, *rest in totals
        ],
        "next": after,
    }


def _hour_rows(span: Range, by_day: bool) -> Q:
    """The rows of `span`'s hours in a table of hour rows only (`by_day` is of no matter)."""
    return Q(hour__gte=span.start, hour__lt=span.end)


def _group(span: Range, value: str) -> str | None:
    return (value or None) if span.group_by else None


# The zones whose days are UTC days: only there may a journeys read by day or week sum its day rows.
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


# A whole UTC day more of whose hours than this fall in another bucket than its noon's is read from hour
# rows: each such hour is read twice, and day rows lie scattered. Over the benchmark's 81 days by agent in
# PostgreSQL (p50), correcting day rows took 40-54 ms where summing hour rows took 74-81 with 1 to 3 such
# hours a day (Paris, Helsinki, Sao Paulo), but 80-94 against 72-78 with 5 or 6 (New York, Kolkata).
MOST_SPILL = 3
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Days:
    """Where a read by day or week in any zone takes its hours from. Each whole UTC day of the range is its
    day row, in the bucket of the day's noon (the day's home); the day's hours in another bucket (its spill:
    those before its home starts, `early`, or after its home ends, `late`) are added to their own bucket from
    hour rows and taken off the home's. A day whose offset changes (clocks going forward or back) or whose
    spill is more than MOST_SPILL hours is read from hour rows instead, as are the hours before the range's
    first UTC midnight and after its last. Each list is of (start, end) UTC ranges, adjacent ones merged.
    `exact`: each bucket with a day row in it holds whole UTC days only (in UTC, say)."""

    days: list[tuple[datetime, datetime]]  # the whole UTC days read from day rows
    hours: list[tuple[datetime, datetime]]  # the hours read from hour rows into their own bucket
    early: list[tuple[datetime, datetime]] = field(default_factory=list)  # taken off their bucket 12h on
    late: list[tuple[datetime, datetime]] = field(default_factory=list)  # taken off their bucket 12h back
    exact: bool = False


def _days(span: Range) -> Days:
    """Where a read bucketed as `span` takes its hours from (Days): every hour from hour rows when it reads
    by hour or its range holds no whole UTC day."""
    first, last = _whole_days(span)
    if span.granularity == "hour" or first >= last:
        return Days([], [(span.start, span.end)])
    zone = ZoneInfo(span.zone)
    days, hours, early, late = [], [(span.start, first), (last, span.end)], [], []
    for day in (first + DAY * n for n in range((last - first) // DAY)):
        offset = (day + LAST_MOMENT).astimezone(zone).utcoffset()
        if offset != (day + DAY - timedelta(seconds=1)).astimezone(zone).utcoffset():
            hours.append((day, day + DAY))  # the clocks change: its hours are not one offset's
            continue
        # The local time of its first hour's last moment, and how many of its hours share that local date.
        wall = (day + offset + LAST_MOMENT).replace(tzinfo=None)
        split = -(-(datetime.combine(wall.date() + DAY, datetime.min.time()) - wall) // HOUR)
        if split >= 24 or _period_of(span, wall.date()) == _period_of(span, wall.date() + DAY):
            days.append((day, day + DAY))  # all its hours in one bucket
        elif min(split, 24 - split) > MOST_SPILL:
            hours.append((day, day + DAY))
        else:
            days.append((day, day + DAY))
            spill = (day, day + split * HOUR) if split <= 12 else (day + split * HOUR, day + DAY)
            (early if split <= 12 else late).append(spill)
            hours.append(spill)
    # Exact if no day spills or is read by hours, and no edge hour falls in the bucket of the whole day
    # beside it (as it would if the offset changed right at the first or the last UTC midnight).
    exact = len(days) == (last - first) // DAY and not (early or late)
    for edge, inside, outside in (
        (span.start < first, first, first - HOUR),
        (last < span.end, last - HOUR, last),
    ):
        exact = exact and not (edge and _bucket_of(span, zone, inside) == _bucket_of(span, zone, outside))
    return Days(_runs(days), _runs(hours), early, late, exact)


def _bucket_of(span: Range, zone: ZoneInfo, hour: datetime) -> date:
    """The day or week (its Monday) an hour is in, as `span` buckets it in `zone`."""
    return _period_of(span, (hour + LAST_MOMENT).astimezone(zone).date())


def _period_of(span: Range, day: date) -> date:
    """The day or week (its Monday) a local date is in, as `span` buckets."""
    return day - timedelta(days=day.weekday()) if span.granularity == "week" else day


def _runs(ranges: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """`ranges`, the empty ones left out and adjacent ones merged, in time order."""
    runs: list[tuple[datetime, datetime]] = []
    for start, end in sorted(r for r in ranges if r[0] < r[1]):
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def _within(ranges: list[tuple[datetime, datetime]], column: str, period: str) -> Q:
    """The rows of `period` ("hour" or "day") whose `column` falls in one of `ranges` (none if none). Spill
    hours (runs of at most MOST_SPILL hours, one a day) are looked up each, longer runs read as ranges: a
    range apiece for hundreds of spills took PostgreSQL twice as long to plan and scan."""
    if not ranges:
        return Q(pk__in=[])
    lookups = period == "hour" and len(ranges) > 2
    short: list[tuple[datetime, datetime]] = []
    long: list[tuple[datetime, datetime]] = []
    for start, end in ranges:  # one pass: a two-year read has hundreds of each
        (short if lookups and end - start <= HOUR * MOST_SPILL else long).append((start, end))
    hours = [start + HOUR * n for start, end in short for n in range((end - start) // HOUR)]
    parts = [Q(**{f"{column}__in": hours})] if hours else []
    parts += [Q(**{f"{column}__gte": start, f"{column}__lt": end}) for start, end in long]
    within = Q(*parts, _connector=Q.OR)
    return Q(period=period) & within


_SCORES = [f"score_{n}" for n in range(11)]


def _rollups(span: Range, metric: str | None):
    """The rollup rows a survey read sums, summed per bucket (a values_list of the bucket, the value, the
    metric and the answers per score), of the group's dimension (or of all answers) and of `span`'s hours,
    taken as _days says. Where a bucket is made of whole UTC days and hours outside them (in UTC, say), by
    day the day rows are read as they are, each its bucket's sum already, and only the hours summed; by week
    all summed at once. Elsewhere each part (day rows, hours, spill taken off) is read with its own bucket and
    summed on top: as SumOfParts, which _bucketed runs. A read that would take more parameters than the
    database does (SQLite's 999, as Django declares) sums every hour from hour rows instead. Over months by
    agent, summing 10,000 day rows that each sum only themselves took a third of the SQL; summing 60,000
    hour rows, twice the day rows'."""
    rows = SurveyRollup.objects.filter(dimension=GROUPS.get(span.group_by or "", ""))
    if metric:
        rows = rows.filter(metric=metric)
    days = _days(span)
    most = connections[rows.db].features.max_query_params  # SQLite's, as Django declares it: 999
    if most and _parameters(days) > most:
        days = Days([], [(span.start, span.end)])  # every hour from hour rows: two parameters
    hours = rows.filter(_within(days.hours, "start", "hour"))
    if not days.days:
        return _summed_rollups(span, hours)
    whole = rows.filter(_within(days.days, "start", "day"))
    if days.exact and span.granularity == "day":
        return _part(span, whole).union(_summed_rollups(span, hours), all=True)
    if not (days.early or days.late):  # each day row in the bucket of its first hour, as its hours are
        return _summed_rollups(span, whole | hours)
    parts = [_part(span, whole, NOON), _part(span, hours)]
    for spill, shift in ((days.early, NOON), (days.late, -NOON)):
        parts += [_part(span, rows.filter(_within(spill, "start", "hour")), shift, -1)] if spill else []
    return SumOfParts(parts[0].union(*parts[1:], all=True), ["bucket", "value", "metric"], list(_SUMS))


def _parameters(days: Days) -> int:
    """At most how many parameters a read taking its hours as `days` says has: each run two (a range), or
    each spill hour one in each of the two parts that read it, and a few more."""
    spill = sum((end - start) // HOUR for start, end in days.early + days.late)
    return 2 * (len(days.days) + len(days.hours) + spill) + 32


def _summed_rollups(span: Range, rows):
    return (
        rows.annotate(bucket=_bucket(span, "start"))
        .values("bucket", "metric", "value")
        .order_by()
        .annotate(**_SUMS)
        .values_list("bucket", "value", "metric", *_SUMS)
    )


def _part(span: Range, rows, shift: timedelta = timedelta(0), sign: int = 1):
    """`rows` as they are (a values_list of the bucket, the value, the metric and the answers per score),
    each in the bucket of its start `shift` later, its answers times `sign`."""
    scores = {f"n{n}": F(name) if sign > 0 else -F(name) for n, name in enumerate(_SCORES)}
    return (
        rows.annotate(bucket=_bucket(span, "start", shift), **scores)
        .values_list("bucket", "value", "metric", *scores)
        .order_by()
    )


@dataclass(frozen=True)
class SumOfParts:
    """A values_list `query` whose rows _bucketed sums: `sums` summed per `keys` (the bucket first), the
    groups whose sums add up to nothing left out (a spill taken off everything its day row had)."""

    query: Any
    keys: list[str]
    sums: list[str]

    def sql(self, compiler) -> tuple[str, tuple]:
        """The statement and its parameters, by the query's `compiler` (whose columns this also sets up)."""
        sql, params = compiler.as_sql()
        name = compiler.connection.ops.quote_name
        keys = ", ".join(map(name, self.keys))
        sums = [f"SUM({name(column)})" for column in self.sums]
        summed = ", ".join(f"CAST({total} AS BIGINT)" for total in sums)
        having = " + ".join(sums)
        return f"SELECT {keys}, {summed} FROM ({sql}) parts GROUP BY {keys} HAVING {having} > 0", params

    def run(self, compiler) -> list[tuple]:
        with compiler.connection.cursor() as cursor:
            cursor.execute(*self.sql(compiler))
            return cursor.fetchall()


def survey_statement(span: Range, *, metric: str | None = None) -> tuple[str, tuple]:
    """The one SQL statement (and its parameters) a survey read of `span` runs, as the database is given it:
    what the benchmark times as the read's raw ceiling."""
    query = _rollups(span, metric)
    compiler = _compiler(query)
    return query.sql(compiler) if isinstance(query, SumOfParts) else compiler.as_sql()


def _compiler(query):
    """The compiler of a values_list query, or of a SumOfParts' query."""
    query = query.query if isinstance(query, SumOfParts) else query
    return query.query.get_compiler(using=query.db)


# A bucket of a read: its text (its start, in the read's zone) and its rows as the database gave them.
Bucket = tuple[str, list[tuple]]


def _bucketed(query, span: Range, order, keep: Callable[[Any], bool] | None = None) -> list[Bucket]:
    """The rows of a values_list `query` (or of a SumOfParts) whose first column is the bucket, in their
    buckets in time order (only those whose key, as pages count buckets, `keep` keeps), and in each bucket
    sorted by `order` (a key on the other columns). Each bucket is converted as Django converts it (made
    aware in the read's zone), once; the rows are left as the database gives them, the bucket still raw in
    their first column: a long read has ten thousand rows and a dozen columns, and converting or copying
    every row cost more than the SQL."""
    compiler = _compiler(query)
    # Either sets the compiler's columns up.
    chunks = [query.run(compiler)] if isinstance(query, SumOfParts) else compiler.execute_sql(MULTI)
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
        if keep is not None and not keep(_key_of(span, bucket)):
            continue
        lines.sort(key=order)
        buckets.append((bucket, lines))
    buckets.sort(key=itemgetter(0))
    return [(span.bucket_text(bucket), lines) for bucket, lines in buckets]


def survey_measures(span: Range, *, metric: str | None = None, page: Page | None = None) -> dict[str, Any]:
    """The survey figures of `span`: per bucket, group and metric (`rows`, buckets with no answer left out;
    of `page`'s buckets only, all of them without one), per group and metric over the whole range
    (`totals`), summed from the rollups, and the cursor of the next page (`next`, null on the last)."""
    totals = _survey_sums(span, metric)
    buckets, after = _page_buckets(span, metric, page, len(totals))
    grouped = bool(span.group_by)
    return {
        **span.describe(),
        "rows": [
            SURVEY_LINES[row[2]](text, (row[1] or None) if grouped else None, *row[3:])
            for text, rows in buckets
            for row in rows
        ],
        "totals": [
            {"group": _group(span, group), **survey_figures(m, scores)} for group, m, scores in totals
        ],
        "next": after,
    }


@dataclass(frozen=True)
class Table:
    """A read as a table, which is what its CSV writes: a line of cells under `header` per bucket and group
    (null cells empty), then a line per total (bucket `total`). `text` are the columns whose cells may be
    text (the others are numbers or null)."""

    header: list[str]
    lines: list[list[Any]]
    text: tuple[int, ...]
    next: str | None = None  # the cursor of the next page (None: the last page, which has the totals)


def survey_table(span: Range, *, metric: str | None = None, page: Page | None = None) -> Table:
    """survey_measures' figures as the table its CSV writes, built from the summed rows without its JSON's
    dicts: a read by day and agent over months has 10,000 lines. The columns are the figures of the metrics
    the whole range has (NPS_COLUMNS only if it has NPS), then a column per score of their scales (`score_0`
    to `score_10` with NPS), the cells of scores outside a line's scale empty: every page of a read has the
    same columns, and its totals are on its last page only, so its pages' lines are the whole read's.
    `tests/interactions/analytics` checks that it writes what the CSV of survey_measures' JSON does."""
    totals = _survey_sums(span, metric)
    buckets, after = _page_buckets(span, metric, page, len(totals))
    # The page's own metrics too: the first answer of one can come between the two statements.
    metrics = {m for _, m, _ in totals} | {row[2] for _, rows in buckets for row in rows}
    if not metrics:
        return Table(["bucket", "group"], [], (0, 1), after)
    lowest = min(SURVEY_RANGES[m][0] for m in metrics)
    highest = max(SURVEY_RANGES[m][1] for m in metrics)
    figures = SURVEY_COLUMNS + (NPS_COLUMNS if "nps" in metrics else [])
    # metric -> (its figures, where its scores are in a row and in a total's scores, the empty cells before
    # and after them)
    layout = {}
    for m in metrics:
        low, high = SURVEY_RANGES[m]
        missing = len(figures) - len(SURVEY_COLUMNS) - (len(NPS_COLUMNS) if m == "nps" else 0)
        before, after_ = (None,) * (missing + low - lowest), (None,) * (highest - high)
        layout[m] = (SURVEY_FIGURES[m], slice(3 + low, 4 + high), slice(low, high + 1), before, after_)
    grouped = bool(span.group_by)
    lines = []
    for text, rows in buckets:
        for row in rows:
            of, scale, _, before, after_ = layout[row[2]]
            given = row[scale]
            value = (row[1] or None) if grouped else None
            lines.append([text, value, row[2], *of(*given), *before, *given, *after_])
    for group, m, scores in totals if after is None else ():
        of, _, scale, before, after_ = layout[m]
        given = scores[scale]
        lines.append(["total", _group(span, group), m, *of(*given), *before, *given, *after_])
    scores = [f"score_{score}" for score in range(lowest, highest + 1)]
    return Table(["bucket", "group", *figures, *scores], lines, (0, 1, 2), after)


def _survey_sums(span: Range, metric: str | None) -> list[tuple[str, str, list[int]]]:
    """The answers per score (0 to 10) of each group and metric over the whole of `span`, whatever its
    buckets and zone: (group, metric, scores), by group and metric."""
    return sorted((value, m, list(scores)) for value, m, *scores in _survey_sums_query(span, metric))


def _survey_sums_query(span: Range, metric: str | None):
    """_survey_sums' query: its whole UTC days from day rows, the hours before and after them from hour rows,
    summed by the database into a line per group and metric."""
    rows = SurveyRollup.objects.filter(dimension=GROUPS.get(span.group_by or "", ""))
    if metric:
        rows = rows.filter(metric=metric)
    return (
        rows.filter(_periods(span, "start", by_day=True))
        .values("value", "metric")
        .order_by()
        .annotate(**_SUMS)
        .values_list("value", "metric", *_SUMS)
    )


# The lines of a measure read's `rows` one answer holds (`limit`): by default, and at most.
PAGE_LINES, MOST_PAGE_LINES = 1000, 2000
# How many hours from a range's ends, or from a bucket's local midnight, an hour of another bucket can be:
# a day's worth and more, for clocks going back across midnight.
_REACH = 27
_CURSOR = {
    "hour": re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:00:00Z\Z"),
    "day": re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z"),
}


@dataclass(frozen=True)
class Page:
    """Which buckets of a read one answer holds: from the bucket `first` (None: the range's first) as many
    whole buckets as make at most `limit` lines, however many lines each bucket has (at most the lines of
    the whole range's totals: a line per group, and metric, currency or step), and always at least one. A
    bucket is keyed by its hour (UTC), or by its local day or its week's Monday."""

    limit: int = PAGE_LINES
    first: date | datetime | None = None

    @classmethod
    def of(cls, span: Range, *, limit: int | None = None, cursor: str | None = None) -> Page:
        """The page a read asks for: `cursor` is the `next` of the page before (a bucket of `span`)."""
        if cursor is None:
            return cls(limit or PAGE_LINES)
        hourly = span.granularity == "hour"
        if not _CURSOR["hour" if hourly else "day"].match(cursor):
            raise _refuse("cursor", "is not a cursor this read gave: take the `next` of the page before")
        try:
            first = datetime.fromisoformat(cursor) if hourly else date.fromisoformat(cursor)
        except ValueError:
            raise _refuse("cursor", "is not a date this read has") from None
        if span.granularity == "week" and first.weekday():
            raise _refuse("cursor", "is not a Monday: a read by week has a bucket per week from Monday")
        low, high = _ends(span)
        if not low <= first <= high:
            raise _refuse("cursor", "is not a bucket of this read's range (from, to and timezone)")
        return cls(limit or PAGE_LINES, first)


def _key(span: Range, hour: datetime) -> date | datetime:
    """The key of the bucket an hour is in (Page): the hour itself, or its local day or week."""
    return hour if span.granularity == "hour" else _bucket_of(span, ZoneInfo(span.zone), hour)


def _ends(span: Range) -> tuple[date | datetime, date | datetime]:
    """The keys of `span`'s first and last buckets. An hour's local day never comes before the hour
    before's, unless the clocks go back more than an hour across midnight (Antarctica/Casey's went back
    three hours in 2010): the first and last _REACH hours are looked at, not one."""
    first = [span.start + HOUR * n for n in range(_REACH) if span.start + HOUR * n < span.end]
    last = [span.end - HOUR * n for n in range(1, _REACH + 1) if span.end - HOUR * n >= span.start]
    return min(_key(span, hour) for hour in first), max(_key(span, hour) for hour in last)


def _key_of_text(span: Range, text: str) -> date | datetime:
    """The key of a bucket as a read writes it (its start in the read's zone)."""
    start = datetime.fromisoformat(text)
    return start.astimezone(UTC) if span.granularity == "hour" else start.date()


def _key_of(span: Range, bucket: datetime) -> date | datetime:
    """The key of a bucket as a read gives it (an aware datetime: its start)."""
    return bucket if span.granularity == "hour" else bucket.astimezone(ZoneInfo(span.zone)).date()


def _cursor(key: date | datetime) -> str:
    return isoformat_z(key.astimezone(UTC)) if isinstance(key, datetime) else key.isoformat()


def _page_buckets(
    span: Range, metric: str | None, page: Page | None, groups: int
) -> tuple[list[Bucket], str | None]:
    """The buckets of `page` (every bucket without one), each with its summed rows (_bucketed), and the cursor
    of the next page (None: none). `groups`: how many lines a bucket has at most."""
    if page is None:
        return _bucketed(_rollups(span, metric), span, itemgetter(1, 2)), None
    part, first, after, more = _page_part(span, page, groups)
    buckets = _bucketed(_rollups(part, metric), part, itemgetter(1, 2), lambda key: first <= key < after)
    return buckets, _cursor(after) if more else None


def _page_part(span: Range, page: Page, groups: int) -> tuple[Range, Any, Any, bool]:
    """The hours a page reads (a Range holding every hour of its buckets, maybe some of their neighbours'),
    the keys of its first bucket and of the bucket after its last, and whether the range has more buckets."""
    low, high = _ends(span)
    first = low if page.first is None else page.first
    after = first + STEP[span.granularity] * max(1, page.limit // max(groups, 1))
    start, end = max(span.start, _beyond(span, first, -1)), min(span.end, _beyond(span, after, 1))
    return replace(span, start=start, end=end), first, after, groups > 0 and after <= high


def survey_statements(span: Range, *, metric: str | None = None, page: Page | None = None) -> list[tuple]:
    """The SQL statements (and their parameters) a survey read of `span` runs, as the database is given them:
    the whole range's sums per group and metric, then the rows of `page`'s buckets (of all without a page).
    What the benchmark times as the read's raw ceiling. The first is run here, to size the page."""
    totals = _survey_sums_query(span, metric)
    part = span if page is None else _page_part(span, page, len(totals))[0]
    return [_compiler(totals).as_sql(), survey_statement(part, metric=metric)]


def _beyond(span: Range, key: date | datetime, side: int) -> datetime:
    """Where a page's hours start (`side` -1: at or before the first hour of the bucket `key` or after) or
    end (1: at or after the end of the last hour of a bucket before `key`): the bucket's hour itself, or a
    UTC midnight, so that the page reads its whole UTC days from day rows. The hours are looked for within
    _REACH of the bucket's local midnight (read as zoneinfo gives it: off by a gap's length when the clocks
    go forward at midnight), where clocks going back across midnight can put an earlier day's hour."""
    if span.granularity == "hour":
        return key
    midnight = datetime.combine(key, time(), tzinfo=ZoneInfo(span.zone)).astimezone(UTC)
    midnight = midnight.replace(minute=0, second=0, microsecond=0)
    if side < 0:
        around = (midnight + HOUR * n for n in range(-_REACH, 4))
        first = next((hour for hour in around if _key(span, hour) >= key), midnight)
        return first.replace(hour=0)
    around = (midnight + HOUR * n for n in range(_REACH, -4, -1))
    end = next((hour for hour in around if _key(span, hour) < key), midnight) + HOUR
    day = end.replace(hour=0)
    return day if day == end else day + DAY


def handling_measures(span: Range, *, page: Page | None = None) -> dict[str, Any]:
    """The handling figures of `span`: per bucket and group (`rows`, buckets with nothing left out; of
    `page`'s buckets only), and per group over the whole range (`totals`)."""
    return {
        **_counted(span, HandlingHour, HANDLING_COUNTS, handling_summary, page=page),
        **_callback_attempts(span),
    }


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


def effort_measures(span: Range, *, page: Page | None = None) -> dict[str, Any]:
    """The effort of the threads first resolved in `span`, per bucket and group (of `page`'s buckets), and per
    group."""
    return _counted(span, EffortHour, EFFORT_COUNTS, effort_summary, page=page)


def outcome_measures(span: Range, *, currency: str | None = None, page: Page | None = None) -> dict[str, Any]:
    """The outcomes of `span` (all currencies, or one), per bucket, group and currency (of `page`'s buckets),
    and per group and currency over the whole range: never summed across currencies, never converted."""
    rows = OutcomeHour.objects.filter(currency=currency) if currency else OutcomeHour.objects.all()
    return _counted(span, rows, OUTCOME_COUNTS, outcome_summary, key="currency", page=page)


def customer_lifetime_value(customer_id: Any) -> list[dict[str, str]]:
    """A customer's lifetime value per currency (`currency`, `value` as a decimal string), by currency code:
    what the analytics subscription has summed of their outcomes (and of customers merged into them)."""
    values = CustomerValue.objects.filter(customer_id=customer_id, outcomes__gt=0).order_by("currency")
    return [{"currency": row.currency, "value": from_units(row.value)} for row in values]


def _counted(
    span: Range, model, counts: list[str], summary, key: str | None = None, page: Page | None = None
) -> dict[str, Any]:
    """Sum `counts` of the rows of `model` (a model or a queryset of a table of hour rows) per bucket and
    group (and per `key`, a column the summary is given first: outcomes are never summed across currencies),
    as _paged does."""
    rows = model.objects.all() if isinstance(model, type) else model
    return _paged(span, page, rows, [key] if key else [], counts, summary, _hour_rows)


# Journeys are counted per objective: by its topic, or its customer's segment, or not grouped.
JOURNEY_GROUPS = ("topic", "segment")
CHOKE_POINTS = 3  # per group: the steps with the longest mean wait, and those with the most transfers


def journey_measures(span: Range, *, page: Page | None = None) -> dict[str, Any]:
    """The journeys of `span`: each step's figures per bucket and group (`rows`, of `page`'s buckets) and per
    group (`totals`), the transitions between steps per group over the whole range, and per group the choke
    points: the steps with the longest mean wait for an answer and those with the most transfers. Whole UTC
    days are summed from day rows: a read's totals and transitions always, its steps when it buckets by UTC
    day or week."""
    figures = _paged(
        span, page, StepHour.objects.all(), ["step"], STEP_COUNTS, step_summary, _step_hours, day_rows=True
    )
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


def _step_hours(span: Range, by_day: bool) -> Q:
    return _periods(span, "hour", by_day=by_day)


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
