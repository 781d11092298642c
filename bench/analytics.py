"""Experience measures: the `analytics` projection's rate over a seeded log, and every measure's reads.

Seeds the log through the ingestion service in-process (batches of 1,000, as the context benchmark does),
with the benchmark traffic's surveys spread over CSAT, NPS and CES and a handful of topics and agents, a
fifth of the customers' messages sent to a chat bot (self-service), half the notes replaced by outcomes,
and a tenth of the threads an agent answered in each batch resolved (the desk's command, in-process). No
runner runs meanwhile: a runner applying only the `analytics` subscription (`run_subscriptions analytics`)
is then timed until it has applied the whole log (the projection's events/s: log events per second,
surveys or not, as a rebuild reads them). With it caught up, `GET /api/v1/analytics/<measure>` is read
(surveys, handling, effort, outcomes, journeys) through gunicorn for ranges from a day to the whole log,
hourly to weekly, grouped and not, each its first page (and the longest page, first and mid-log, of the
longest survey read); the raw ceiling is the same sums as SQL through psycopg (for surveys the statements
the read runs, as Django writes them; else a statement per table the read sums), no HTTP. A client reading
every page of the longest survey reads is timed too.
It posts 1,000,000 events, the issue's size; BENCH_ANALYTICS_EVENTS=100000 makes a shorter run,
BENCH_QUICK=1 a smoke run of 20,000.
"""

from __future__ import annotations

import os
import random
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from tqdm import tqdm

from bench import common
from bench.traffic import Traffic

EVENTS = int(common.size("BENCH_ANALYTICS_EVENTS", 1_000_000, 20_000))
READS, ROUNDS, BATCH, WARM = 200, 3, 1000, 20
TOPICS = ["billing", "fault", "moving", "roaming", "upgrade", None]
AGENTS = [f"agent-{n}" for n in range(40)]
SCALES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
KINDS = ["sale", "sale", "upgrade", "retention", "cancellation", "refund"]
CURRENCIES = ["EUR", "EUR", "USD", "GBP"]
TARGET_P99_MS = 100
WHOLE_READS = 5  # reads of every page of a long read, one after another (the median reported)
# The reads whose every page is read: what a client that wants the whole of a long read waits for.
WHOLE = [
    "surveys: the whole log by day, by agent",
    "surveys: the whole log by day, by agent, CSV",
    "surveys: the whole log by day, by agent, in America/New_York",
]


def _survey(event: dict, rng: random.Random) -> dict:
    """A survey with a metric, a topic and an agent drawn at random (the traffic's are CSAT only)."""
    metric = rng.choice(list(SCALES))
    data = {**event["data"], "metric": metric, "score": rng.randint(*SCALES[metric])}
    if topic := rng.choice(TOPICS):
        data["topic"] = topic
    data["agent_id"] = rng.choice(AGENTS)
    return {**event, "data": data}


def _self_service(event: dict, rng: random.Random) -> dict:
    """A fifth of the customers' messages go to the web chat's bot instead (a `chat:self-service` step, so
    journeys that cross channels, and self-service visits that bounce to an assisted contact)."""
    if rng.random() < 0.2:
        return {**event, "data": {**event["data"], "channel": "chat", "self_service": True}}
    return event


def _outcome(event: dict, rng: random.Random) -> dict:
    """An `outcome.recorded` in place of half the notes: a kind, a value and a currency drawn at random."""
    data = {
        "kind": rng.choice(KINDS),
        "value": f"{rng.randint(1, 50_000) / 100:.2f}",
        "currency": rng.choice(CURRENCIES),
        "agent_id": rng.choice(AGENTS),
    }
    if topic := rng.choice(TOPICS):
        data["topic"] = topic
    return {**event, "type": "outcome.recorded", "data": data}


def _seed(total: int) -> tuple[dict[str, int], datetime, datetime]:
    import django

    django.setup()
    from unittest import mock

    from interactions.access.tokens import token_create
    from interactions.ingestion.pipeline import events_ingest
    from interactions.threads.services import InvalidTransition, thread_resolve

    token, _ = token_create(name="bench-seed", role="admin")
    traffic = Traffic(customers=20_000, source="/bench/analytics")
    rng = random.Random(11)  # noqa: S311 (test data)
    counts = dict.fromkeys(("surveys", "self_service", "outcomes", "resolutions"), 0)
    written = 0
    with tqdm(total=total, desc="seeding", unit="event", disable=None, mininterval=1) as bar:
        while written < total:
            batch = []
            for i in range(written, min(total, written + BATCH)):
                event = traffic.event(i)
                if event["type"] == "survey.answered":
                    event, counts["surveys"] = _survey(event, rng), counts["surveys"] + 1
                elif event["type"] == "message.received":
                    event = _self_service(event, rng)
                    counts["self_service"] += event["data"].get("self_service", False)
                elif event["type"] == "note.added" and rng.random() < 0.5:
                    event, counts["outcomes"] = _outcome(event, rng), counts["outcomes"] + 1
                batch.append(event)
            ingested = events_ingest(batch, token=token)
            # A tenth of the threads an agent answered in the batch are resolved, at the batch's last
            # moment (a command's time is the clock's: the clock is set to it while they are resolved).
            answered = {
                r.result.event.metadata["thread_id"]
                for e, r in zip(batch, ingested, strict=True)
                if e["type"] == "message.sent"
            }
            when = datetime.fromisoformat(batch[-1]["time"].replace("Z", "+00:00"))
            with mock.patch("django.utils.timezone.now", return_value=when):
                for thread in sorted(answered):
                    if rng.random() < 0.1:
                        try:
                            thread_resolve(thread_id=thread, actor=token)
                            counts["resolutions"] += 1
                        except InvalidTransition:
                            pass  # resolved already
            written += len(batch)
            bar.update(len(batch))
    first = traffic.start
    last = traffic.start + timedelta(seconds=(total - 1) * 7)  # Traffic's spacing
    return counts, first, last


def _settle() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def _replay(url: str, runner) -> dict:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        head = conn.execute("SELECT coalesce(max(position), 0) FROM hub_event").fetchone()[0]
        while True:
            if runner.poll() is not None:
                raise common.BenchError(f"the subscription runner exited with status {runner.returncode}")
            row = conn.execute(
                "SELECT position, state FROM hub_subscription WHERE name = 'analytics'"
            ).fetchone()
            if row and row[1] == "parked":
                raise common.BenchError("the analytics subscription parked: see `manage.py subscriptions`")
            if row and row[0] >= head:
                break
            time.sleep(0.2)
        handling = conn.execute("SELECT count(*) FROM analytics_handling_hour").fetchone()[0]
        tables = {
            table: conn.execute(f"SELECT count(*) FROM analytics_{table}_hour").fetchone()[0]
            for table in ("effort", "outcome")
        }
        for table in ("step", "transition"):  # hour and day rows
            periods = dict(
                conn.execute(f"SELECT period, count(*) FROM analytics_{table}_hour GROUP BY period")
            )
            tables[table], tables[f"{table}_days"] = periods.get("hour", 0), periods.get("day", 0)
        rollups = conn.execute(
            "SELECT period, count(*) FROM analytics_survey_rollup GROUP BY period ORDER BY period"
        ).fetchall()
    seconds = time.perf_counter() - started
    return {
        "events": head,
        "seconds": seconds,
        "events_per_s": head / seconds,
        "handling_rows": handling,
        "hour_rows": tables,
        "rollup_rows": dict(rollups),
    }


def _queries(first: datetime, last: datetime) -> dict[str, tuple[str, dict[str, str]]]:
    """Each read: (its measure, its query)."""
    day = first + (last - first) / 2
    day = day.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (last + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    z = lambda at: at.isoformat().replace("+00:00", "Z")  # noqa: E731
    whole = {"from": z(first), "to": z(end)}
    month = {"from": z(day - timedelta(days=15)), "to": z(day + timedelta(days=16))}
    day_query = {"from": z(day), "to": z(day + timedelta(days=1)), "granularity": "hour"}
    by_day = {**month, "granularity": "day"}
    whole_by_day = {**whole, "granularity": "day"}
    reads = {
        "surveys: a day by hour": ("surveys", day_query),
        "surveys: a month by day": ("surveys", by_day),
        "surveys: a month by day, by agent": ("surveys", {**by_day, "group_by": "agent"}),
        "surveys: the whole log by day": ("surveys", whole_by_day),
        "surveys: the whole log by week, by topic": (
            "surveys",
            {**whole, "granularity": "week", "group_by": "topic"},
        ),
        "surveys: the whole log by day, by agent": ("surveys", {**whole_by_day, "group_by": "agent"}),
        "surveys: the whole log by day, by agent, CSV": (
            "surveys",
            {**whole_by_day, "group_by": "agent", "format": "csv"},
        ),
        "handling: a month by day, by channel": ("handling", {**by_day, "group_by": "channel"}),
        "handling: the whole log by day, by agent": ("handling", {**whole_by_day, "group_by": "agent"}),
        "effort: a month by day": ("effort", by_day),
        "effort: the whole log by day, by agent": ("effort", {**whole_by_day, "group_by": "agent"}),
        "outcomes: a month by day, by channel": ("outcomes", {**by_day, "group_by": "channel"}),
        "outcomes: the whole log by day, by channel": ("outcomes", {**whole_by_day, "group_by": "channel"}),
        "journeys: a month by day, by topic": ("journeys", {**by_day, "group_by": "topic"}),
        "journeys: the whole log by week, by topic": (
            "journeys",
            {**whole, "granularity": "week", "group_by": "topic"},
        ),
    }
    # The longest survey read in zones whose days are not all UTC days: London's are in the log's winter;
    # Paris's day rows are corrected by the hour of each that is the next local day's; New York's five such
    # hours a day are more than that is worth, so its reads sum hour rows.
    for zone in ("Europe/London", "Europe/Paris", "America/New_York"):
        reads[f"surveys: the whole log by day, by agent, in {zone}"] = (
            "surveys",
            {**whole_by_day, "group_by": "agent", "timezone": zone},
        )
    # A survey read answers a page of whole buckets (1,000 lines by default): the reads above over the whole
    # log by day and agent are their first pages. The longest pages a read may ask for, first and in the
    # middle of the log, in UTC and in New York (whose pages sum hour rows).
    from interactions.analytics.selectors import MOST_PAGE_LINES as MOST_LINES

    for zone in ("UTC", "America/New_York"):
        longest = {**whole_by_day, "group_by": "agent", "timezone": zone, "limit": str(MOST_LINES)}
        middle = {**longest, "cursor": day.date().isoformat()}
        reads[f"surveys: the whole log by day, by agent, in {zone}, a page of {MOST_LINES:,}"] = (
            "surveys",
            longest,
        )
        reads[f"surveys: the whole log by day, by agent, in {zone}, a page of {MOST_LINES:,} mid-log"] = (
            "surveys",
            middle,
        )
    # Every measure's CSV export, of its longest read here.
    for name in (
        "handling: the whole log by day, by agent",
        "effort: the whole log by day, by agent",
        "outcomes: the whole log by day, by channel",
        "journeys: the whole log by week, by topic",
    ):
        measure, query = reads[name]
        reads[f"{name}, CSV"] = (measure, {**query, "format": "csv"})
    return reads


def _every_page(url: str, token: str) -> tuple[float, int]:
    """The seconds a client takes to read every page of a read, each by the `Link` of the one before, and how
    many pages it read."""
    started, pages = time.perf_counter(), 0
    while url:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            link = response.headers.get("Link", "")
        pages += 1
        url = link[1 : link.index(">")] if link.endswith('rel="next"') else ""
    return time.perf_counter() - started, pages


def _get(url: str, token: str) -> float:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    elapsed = time.perf_counter() - started
    empty = body.count(b"\r\n") < 2 if "format=csv" in url else b"," not in body  # CSV: a header only
    if empty:
        raise common.BenchError(f"an empty answer from {url}")
    return elapsed


def _hours(query: dict[str, str]) -> tuple[datetime, datetime]:
    """The read's hours: from and to, rounded down to the hour."""
    start, end = (
        datetime.fromisoformat(query[k].replace("Z", "+00:00")).replace(minute=0, second=0, microsecond=0)
        for k in ("from", "to")
    )
    return start, end


def _hour_statements(measure: str, group: str, granularity: str, start: datetime, end: datetime) -> list:
    """The statements of a read of the hourly tables (handling, effort, outcomes, journeys): each table's
    counts summed per bucket, group (and currency, or step), and for journeys the transitions per group over
    the range."""
    from interactions.analytics.models import EFFORT_COUNTS, OUTCOME_COUNTS, STEP_COUNTS, TRANSITION_COUNTS

    column = {"agent": "agent_id", "topic": "topic", "channel": "channel", "segment": "segment"}.get(
        group, "''"
    )
    handling = ["calls", "call_seconds", "transfers", "first_responses", "first_response_seconds",
                "resolutions", "resolution_seconds", "handled", "handle_seconds", "reopens"]  # fmt: skip
    table, keys, counts = {
        "handling": ("analytics_handling_hour", [], handling),
        "effort": ("analytics_effort_hour", [], EFFORT_COUNTS),
        "outcomes": ("analytics_outcome_hour", ["currency"], OUTCOME_COUNTS),
        "journeys": ("analytics_step_hour", ["step"], STEP_COUNTS),
    }[measure]
    sums = ", ".join(f"sum({name})" for name in counts)
    by = "".join(f", {key}" for key in keys)
    where, args = "hour >= %s AND hour < %s", (start, end)
    if measure == "journeys":  # hour and day rows: whole UTC days from day rows, as the read takes them
        where, args = _periods(start, end, by_day=granularity != "hour")
    statements = [
        (
            f"SELECT date_trunc(%s, hour AT TIME ZONE 'UTC') AS bucket, {column} AS grp{by}, {sums}"
            f" FROM {table} WHERE {where} GROUP BY bucket, grp{by}",
            (granularity, *args),
        )
    ]
    if measure == "journeys":  # summed over the range: whole days from day rows, whatever the granularity
        sums = ", ".join(f"sum({name})" for name in TRANSITION_COUNTS)
        where, args = _periods(start, end, by_day=True)
        statements.append(
            (
                f"SELECT {column} AS grp, from_step, to_step, {sums} FROM analytics_transition_hour"
                f" WHERE {where} GROUP BY grp, from_step, to_step",
                args,
            )
        )
    return statements


_PERIODS = (
    "((period = 'hour' AND hour >= %s AND hour < %s) OR (period = 'day' AND hour >= %s AND hour < %s)"
    " OR (period = 'hour' AND hour >= %s AND hour < %s))"
)


def _periods(start: datetime, end: datetime, *, by_day: bool) -> tuple[str, tuple]:
    """The condition and arguments that read the hours of `start`-`end` from the journeys' rows: `by_day`,
    whole UTC days from day rows and the edge hours from hour rows; else (or within one day) hour rows."""
    first = start.replace(hour=0) + timedelta(days=1) if start.hour else start
    last = end.replace(hour=0)
    if not by_day or first >= last:
        return "period = 'hour' AND hour >= %s AND hour < %s", (start, end)
    return _PERIODS, (start, first, first, last, last, end)


def _raw(url: str, measure: str, query: dict[str, str]) -> float:
    """The same sums as SQL through psycopg (no HTTP, and no Django but for writing a survey read's
    statement): what the read costs the database."""
    import psycopg

    group = query.get("group_by", "")
    start, end = _hours(query)
    if measure == "surveys":  # the statement the read runs, as Django writes it for the database
        from interactions.analytics.selectors import Page, Range, survey_statements

        span = Range.of(start=start, end=end, granularity=query["granularity"],
                        zone=query.get("timezone", "UTC"), group_by=group or None)  # fmt: skip
        statements = survey_statements(span, page=Page.of(span, limit=int(query.get("limit", 0)) or None))
    else:
        statements = _hour_statements(measure, group, query["granularity"], start, end)
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(WARM):
            for sql, args in statements:
                conn.execute(sql, args).fetchall()
        latencies = []
        for _ in range(READS):
            started = time.perf_counter()
            for sql, args in statements:
                conn.execute(sql, args).fetchall()
            latencies.append(time.perf_counter() - started)
    return common.percentile(latencies, 99) * 1000


def run(command: str) -> dict:
    url = common.scratch_database_url()
    os.environ["DATABASE_URL"] = url
    env = common.bench_env(url, DATABASE_CONN_MAX_AGE="60")
    common.manage(env, "migrate", "--no-input")
    started = time.perf_counter()
    seeded, first, last = _seed(EVENTS)
    seed_seconds = time.perf_counter() - started
    _settle()
    token = common.create_token(env, "bench-supervisor", "supervisor")
    logs = common.ROOT / "bench" / "results" / "analytics-logs"
    runner = [*common.runner(), "analytics"]
    reads: dict[str, list[dict]] = {}
    raw: dict[str, float] = {}
    every: dict[str, dict] = {}
    with common.servers({"runner": runner}, env, logs) as procs:
        replay = _replay(url, procs["runner"])
        _settle()
        port = common.free_port()
        with common.servers({"rest": common.gunicorn(port)}, env, logs):
            base = f"http://127.0.0.1:{port}"
            common.wait_ready(base)
            for name, (measure, query) in _queries(first, last).items():
                target = f"{base}/api/v1/analytics/{measure}?{urllib.parse.urlencode(query)}"
                reads[name] = []
                for _ in range(ROUNDS):
                    for _ in range(WARM):
                        _get(target, token)
                    latencies = [_get(target, token) for _ in range(READS)]
                    reads[name].append(
                        {
                            "p50": common.percentile(latencies, 50) * 1000,
                            "p99": common.percentile(latencies, 99) * 1000,
                        }
                    )
                raw[name] = _raw(url, measure, query)
            for name in WHOLE:
                measure, query = _queries(first, last)[name]
                target = f"{base}/api/v1/analytics/{measure}?{urllib.parse.urlencode(query)}"
                runs = [_every_page(target, token) for _ in range(WHOLE_READS)]
                every[name] = {"ms": common.median([ms for ms, _ in runs]) * 1000, "pages": runs[0][1]}
    result = {
        "events": EVENTS,
        "surveys": seeded["surveys"],
        "seeded": seeded,
        "seed_seconds": seed_seconds,
        "replay": replay,
        "reads": reads,
        "raw_p99": raw,
        "every_page": every,
    }
    _report(result, command, url)
    common.dump_json(Path(common.ROOT / "bench" / "results" / "analytics.json"), result)
    return result


def _report(result: dict, command: str, url: str) -> None:
    rows, worst = [], 0.0
    for name, rounds in result["reads"].items():
        p50 = common.median([r["p50"] for r in rounds])
        p99 = common.median([r["p99"] for r in rounds])
        worst = max(worst, p99)
        per_round = ", ".join(f"{r['p99']:.1f}" for r in rounds)
        rows.append([name, f"{p50:.1f}", f"{p99:.1f}", per_round, f"{result['raw_p99'][name]:.1f}"])
    replay, seeded = result["replay"], result["seeded"]
    hours = replay["hour_rows"]
    heading = "## Experience measures"
    if common.quick():
        heading += f" (smoke run, {EVENTS:,} events: not a result)"
    met = "yes" if worst < TARGET_P99_MS else "**no**"
    body = (
        f"{heading}\n\n{EVENTS:,} events posted in-process through the ingestion service in batches of "
        f"{BATCH:,} ({EVENTS / result['seed_seconds']:,.0f} posted events/s), {result['surveys']:,} of them "
        "survey answers (CSAT, NPS and CES, six topics, 40 agents, 7 s apart over "
        f"{EVENTS * 7 / 86400:,.0f} days). A runner applying only the `analytics` subscription then applied "
        f"the whole log of {replay['events']:,} events (with the hub's own) in {replay['seconds']:.1f} s: "
        f"**{replay['events_per_s']:,.0f} events/s**, leaving "
        f"{replay['rollup_rows'].get('hour', 0):,} hour and {replay['rollup_rows'].get('day', 0):,} day "
        f"survey rollup rows, {replay['handling_rows']:,} handling, {hours['effort']:,} effort, "
        f"{hours['outcome']:,} outcome, {hours['step']:,} journey step and {hours['transition']:,} "
        f"transition hour rows (and {hours['step_days']:,} and {hours['transition_days']:,} day rows). "
        "Besides calls, messages and answers, the traffic has "
        f"{seeded['self_service']:,} messages to the web chat's bot (`self_service`, on a channel other than "
        f"the customer's own for three customers in four), {seeded['outcomes']:,} `outcome.recorded` (in "
        f"place of half the notes) and {seeded['resolutions']:,} threads resolved (a tenth of those an "
        "agent answered in each batch of 1,000, at the batch's last moment).\n\n"
        "Every measure (`GET /api/v1/analytics/<measure>`) through gunicorn, "
        f"{READS} reads per round after {WARM} to warm up, "
        f"{ROUNDS} rounds (the median round's figures); the raw ceiling is the same sums as SQL through "
        "psycopg: for surveys the very statements the read runs (the whole range's totals, then its page's "
        "rollups: the group's dimension, whole UTC days from day rows, each day's hours of another local day "
        "added and taken off from hour rows), for the others one statement per table the read sums, over the "
        "whole range by bucket (for journeys the steps and the transitions, whole UTC days from day rows; "
        "handling's callback attempts are left out of its ceiling): what handling, effort and outcomes read "
        "(their tables have hour rows only), more than journeys do (the whole range per group from day rows, "
        "and their page's buckets). A measure read answers a page of whole "
        "buckets, 1,000 lines by default (`limit`, at most 2,000): its first page unless the read says "
        "otherwise.\n\n"
        + common.table(rows, ["read", "p50 ms", "p99 ms", "p99 per round", "raw SQL p99 ms"])
        + "\n\nA client reading every page of a long read, one after another (the median of "
        f"{WHOLE_READS} whole reads; not a target):\n\n"
        + common.table(
            [
                [name, str(whole["pages"]), f"{whole['ms']:.1f}"]
                for name, whole in result["every_page"].items()
            ],
            ["read", "pages", "every page, ms"],
        )
        + "\n\n"
        + common.table(
            [
                [
                    f"measure reads p99 < {TARGET_P99_MS} ms over a 1M-event log, whatever the range",
                    f"worst {worst:.1f} ms",
                    met,
                ]
            ],
            ["target", "measured", "met"],
        )
    )
    common.write_section("analytics", body, command, url)
