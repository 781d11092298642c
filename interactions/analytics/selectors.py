"""Reading the measures: sums of the hourly read models over a range, bucketed by hour, day or week in a
time zone, grouped by one dimension. A read sums rows; it never reads the log."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
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


def _bucketed(query, span: Range, order) -> list[Bucket]:
    """The rows of a values_list `query` (or of a SumOfParts) whose first column is the bucket, in their
    buckets in time order, and in each bucket sorted by `order` (a key on the other columns). Each bucket is
    converted as Django converts it (made aware in the read's zone), once; the rows are left as the database
    gives them, the bucket still raw in their first column: a long read has ten thousand rows and a dozen
    columns, and converting or copying every row cost more than the SQL."""
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
